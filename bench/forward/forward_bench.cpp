// Prefill and decode throughput of the mc engine on one model directory, for bench/forward/run.sh, which
// runs PyTorch (torch_forward_bench.py) on the same token ids beside it. Token ids are synthetic and
// deterministic: id[i] = (1000 + 7919·i) mod V, the same rule the Python side uses.
// Prefill: one sequence of T tokens, logits for the last position only (what generation needs).
// Decode: after a T-token prefill into the KV cache, K single-token steps, each feeding the argmax.
// Prints one JSON object per run on stdout: medians over the repetitions and the best repetition (on a
// shared machine the best is the closest to the uncontended speed).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "core/error.h"
#include "kernels/gemm.h"
#include "model/transformer.h"

namespace {

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: forward_bench MODEL_DIR [THREADS=1] [PREFILL_T=128] [REPS=5] [DECODE_K=32] [DTYPE=f32]\n");
    return 1;
  }
  const std::string dir = argv[1];
  const int threads = argc > 2 ? std::atoi(argv[2]) : 1;
  const int64_t T = argc > 3 ? std::atoll(argv[3]) : 128;
  const int reps = argc > 4 ? std::atoi(argv[4]) : 5;
  const int64_t K = argc > 5 ? std::atoll(argv[5]) : 32;
  const std::string dtype = argc > 6 ? argv[6] : "f32";  // f32 | bf16 | auto (model/transformer.h WeightDtype)
  try {
    mc::gemm_set_threads(threads);
    double t0 = now_s();
    mc::Model model = mc::Model::load(dir, {mc::weight_dtype_from_name(dtype)});
    const double load_s = now_s() - t0;
    const int64_t V = model.config().vocab_size;
    std::vector<int32_t> ids(static_cast<size_t>(T));
    for (int64_t i = 0; i < T; ++i) ids[static_cast<size_t>(i)] = static_cast<int32_t>((1000 + 7919 * i) % V);

    mc::Activations acts;
    mc::ForwardOptions opts;
    opts.logits = mc::LogitsMode::Last;
    mc::TokenBatch batch = mc::TokenBatch::from_sequences({ids});
    std::vector<double> prefill;
    for (int r = 0; r <= reps; ++r) {  // rep 0 warms up
      double a = now_s();
      model.forward(batch, acts, opts);
      if (r > 0) prefill.push_back(now_s() - a);
    }

    std::vector<double> decode;
    for (int r = 0; r < std::max(2, reps / 2); ++r) {
      mc::KvCache cache = model.make_cache(1, T + K);
      model.forward(batch, acts, opts, &cache);
      int32_t next = static_cast<int32_t>(mc::argmax(acts.logits.data(), V));
      double a = now_s();
      for (int64_t k = 0; k < K; ++k) {
        model.forward(mc::TokenBatch::from_sequences({{next}}), acts, opts, &cache);
        next = static_cast<int32_t>(mc::argmax(acts.logits.data(), V));
      }
      decode.push_back((now_s() - a) / static_cast<double>(K));
    }
    const double pbest = *std::min_element(prefill.begin(), prefill.end());
    const double dbest = *std::min_element(decode.begin(), decode.end());
    std::printf("{\"engine\": \"mc\", \"dtype\": \"%s\", \"threads\": %d, \"prefill_tokens\": %lld, \"prefill_tok_s\": %.1f, "
                "\"prefill_tok_s_best\": %.1f, \"decode_tokens\": %lld, \"decode_tok_s\": %.1f, "
                "\"decode_tok_s_best\": %.1f, \"load_s\": %.2f}\n",
                mc::weight_dtype_name(model.weight_dtype()), threads, static_cast<long long>(T),
                static_cast<double>(T) / median(prefill),
                static_cast<double>(T) / pbest, static_cast<long long>(K), 1.0 / median(decode), 1.0 / dbest, load_s);
  } catch (const mc::Error& e) {
    std::fprintf(stderr, "forward_bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
