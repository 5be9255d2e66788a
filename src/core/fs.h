// File system helpers: read-only memory maps, whole-file reads, atomic writes (temp file, fsync,
// rename) and output directories that appear only when complete. Nothing here leaves a half-written
// output behind: a writer that is destroyed without commit() removes its temporary.
#pragma once
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace mc {

/// A read-only memory map of a whole file. Empty files map to an empty span.
class MappedFile {
 public:
  MappedFile() = default;
  /// Throws mc::Error([component] ...) naming the file when it cannot be opened or mapped.
  static MappedFile open(const std::string& path, const std::string& component = "io");
  ~MappedFile();
  MappedFile(MappedFile&& o) noexcept;
  MappedFile& operator=(MappedFile&& o) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  std::span<const uint8_t> bytes() const { return {data_, size_}; }
  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
  std::string path_;
};

/// Reads a whole (text) file. Throws mc::Error naming the file on failure.
std::string read_file(const std::string& path, const std::string& component = "io");

/// Writes `path` atomically: the bytes go to a temporary file in the same directory, which is fsynced
/// and renamed over `path` by commit(). Destroying an uncommitted writer removes the temporary.
class AtomicFile {
 public:
  explicit AtomicFile(std::string path, const std::string& component = "io");
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  void write(const void* data, size_t n);
  void write(std::string_view s) { write(s.data(), s.size()); }
  uint64_t bytes_written() const { return written_; }
  void commit();

 private:
  std::string path_, tmp_path_, component_;
  int fd_ = -1;
  uint64_t written_ = 0;
  bool committed_ = false;
};

/// Writes a whole file atomically.
void write_file_atomic(const std::string& path, std::string_view content, const std::string& component = "io");

/// An output directory built under a temporary name beside its final path and renamed into place by
/// commit(). If the object dies uncommitted, the temporary directory and everything in it are removed.
/// Refuses to start when `path` exists unless `force` is set (then the old one is replaced on commit).
class OutputDir {
 public:
  OutputDir(std::string path, bool force, const std::string& component = "io");
  ~OutputDir();
  OutputDir(const OutputDir&) = delete;
  OutputDir& operator=(const OutputDir&) = delete;

  /// Path of a file inside the (temporary) directory.
  std::string file(const std::string& name) const;
  const std::string& tmp_path() const { return tmp_path_; }
  void commit();

 private:
  std::string path_, tmp_path_, component_;
  bool force_ = false;
  bool committed_ = false;
};

bool path_exists(const std::string& path);
bool is_directory(const std::string& path);
uint64_t file_size(const std::string& path);

}  // namespace mc
