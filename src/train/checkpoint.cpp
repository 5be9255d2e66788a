#include "train/checkpoint.h"

#include <algorithm>
#include <cstring>
#include <filesystem>

#include "core/error.h"
#include "core/fs.h"

namespace mc::train {

namespace fs = std::filesystem;

namespace {

constexpr const char* kPrefix = "step-";

/// Step number of a "step-<N>" directory name, or −1.
int64_t step_of(const std::string& name) {
  if (name.rfind(kPrefix, 0) != 0) return -1;
  const std::string digits = name.substr(std::strlen(kPrefix));
  if (digits.empty() || digits.size() > 12 || !std::all_of(digits.begin(), digits.end(), ::isdigit)) return -1;
  return std::stoll(digits);
}

std::vector<std::pair<int64_t, std::string>> list_checkpoints(const std::string& root) {
  std::vector<std::pair<int64_t, std::string>> out;
  std::error_code ec;
  if (!fs::is_directory(root, ec)) return out;
  for (const auto& e : fs::directory_iterator(root, ec)) {
    const int64_t s = step_of(e.path().filename().string());
    if (s >= 0 && e.is_directory() && fs::exists(e.path() / "state.json") && fs::exists(e.path() / "tensors.safetensors"))
      out.emplace_back(s, e.path().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

void checkpoint_save(const std::string& root, int64_t step, const Json& state,
                     const std::vector<std::pair<std::string, const Tensor*>>& tensors) {
  std::error_code ec;
  fs::create_directories(root, ec);
  if (ec) throw Error("train", str(root, ": cannot create the checkpoint directory: ", ec.message()), ExitCode::Runtime);
  const std::string path = (fs::path(root) / (kPrefix + std::to_string(step))).string();
  OutputDir out(path, /*force=*/true, "train");
  std::vector<std::vector<uint8_t>> bytes;
  std::vector<SafetensorsWriteEntry> entries;
  bytes.reserve(tensors.size());
  for (const auto& [name, t] : tensors) {
    bytes.push_back(f32_to_bytes(std::span<const float>(t->data(), static_cast<size_t>(t->numel())), Dtype::F32));
    std::vector<int64_t> shape(t->shape().dims.begin(), t->shape().dims.begin() + t->ndim());
    entries.push_back({name, Dtype::F32, shape, bytes.back()});
  }
  safetensors_write(out.file("tensors.safetensors"), entries, {{"format", "mc-checkpoint"}});
  Json doc = state;
  doc["step"] = step;
  write_file_atomic(out.file("state.json"), json_dump(doc, 1) + "\n", "train");
  out.commit();
  auto all = list_checkpoints(root);
  for (size_t i = 0; i + kCheckpointsKept < all.size(); ++i) fs::remove_all(all[i].second, ec);
}

std::optional<std::string> checkpoint_latest(const std::string& root) {
  auto all = list_checkpoints(root);
  if (all.empty()) return std::nullopt;
  return all.back().second;
}

void LoadedCheckpoint::read(const std::string& name, Tensor& t) const {
  const SafetensorsTensorInfo* info = tensors.find(name);
  if (!info) throw Error("train", str(path, ": checkpoint has no tensor '", name, "'"));
  if (static_cast<int64_t>(info->numel()) != t.numel())
    throw Error("train", str(path, ": tensor '", name, "' has ", info->numel(), " elements, the run expects ",
                             t.numel(), " (was the checkpoint made with other settings?)"));
  std::vector<float> v = tensors.to_f32(*info);
  std::copy(v.begin(), v.end(), t.data());
}

LoadedCheckpoint checkpoint_load(const std::string& dir) {
  const std::string state_path = (fs::path(dir) / "state.json").string();
  const std::string tensors_path = (fs::path(dir) / "tensors.safetensors").string();
  if (!path_exists(state_path) || !path_exists(tensors_path))
    throw Error("train", str(dir, ": not a checkpoint (state.json and tensors.safetensors expected)"));
  LoadedCheckpoint ck{dir, 0, json_load(state_path, "train"), SafetensorsFile::open(tensors_path)};
  if (!ck.state.is_object() || !ck.state.contains("step") || !ck.state["step"].is_number_integer() ||
      ck.state["step"].get<int64_t>() < 0)
    throw Error("train", str(state_path, ": missing or invalid \"step\""));
  ck.step = ck.state["step"].get<int64_t>();
  return ck;
}

}  // namespace mc::train
