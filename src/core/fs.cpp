#include "core/fs.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <random>

#include "core/error.h"

namespace mc {

namespace fs = std::filesystem;

static std::string errno_text() { return std::strerror(errno); }

MappedFile MappedFile::open(const std::string& path, const std::string& component) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw Error(component, str(path, ": cannot open (", errno_text(), ")"));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    ::close(fd);
    throw Error(component, str(path, ": cannot stat (", errno_text(), ")"));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    throw Error(component, str(path, ": not a regular file"));
  }
  MappedFile m;
  m.path_ = path;
  m.size_ = static_cast<size_t>(st.st_size);
  if (m.size_ > 0) {
    void* p = ::mmap(nullptr, m.size_, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
      ::close(fd);
      throw Error(component, str(path, ": cannot map (", errno_text(), ")"));
    }
    m.data_ = static_cast<const uint8_t*>(p);
  }
  ::close(fd);
  return m;
}

MappedFile::~MappedFile() {
  if (data_ != nullptr) ::munmap(const_cast<uint8_t*>(data_), size_);
}

MappedFile::MappedFile(MappedFile&& o) noexcept : data_(o.data_), size_(o.size_), path_(std::move(o.path_)) {
  o.data_ = nullptr;
  o.size_ = 0;
}

MappedFile& MappedFile::operator=(MappedFile&& o) noexcept {
  if (this != &o) {
    if (data_ != nullptr) ::munmap(const_cast<uint8_t*>(data_), size_);
    data_ = o.data_;
    size_ = o.size_;
    path_ = std::move(o.path_);
    o.data_ = nullptr;
    o.size_ = 0;
  }
  return *this;
}

std::string read_file(const std::string& path, const std::string& component) {
  MappedFile m = MappedFile::open(path, component);
  return std::string(reinterpret_cast<const char*>(m.data()), m.size());
}

static std::string random_suffix() {
  std::random_device rd;
  return std::to_string(::getpid()) + "." + std::to_string(rd());
}

AtomicFile::AtomicFile(std::string path, const std::string& component)
    : path_(std::move(path)), component_(component) {
  fs::path p(path_);
  tmp_path_ = (p.parent_path() / ("." + p.filename().string() + ".tmp." + random_suffix())).string();
  fd_ = ::open(tmp_path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd_ < 0) throw Error(component_, str(path_, ": cannot create (", errno_text(), ")"));
}

AtomicFile::~AtomicFile() {
  if (fd_ >= 0) ::close(fd_);
  if (!committed_) ::unlink(tmp_path_.c_str());
}

void AtomicFile::write(const void* data, size_t n) {
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    ssize_t w = ::write(fd_, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      throw Error(component_, str(path_, ": write failed (", errno_text(), ")"), ExitCode::Runtime);
    }
    p += w;
    n -= static_cast<size_t>(w);
    written_ += static_cast<uint64_t>(w);
  }
}

void AtomicFile::commit() {
  MC_CHECK(!committed_, "AtomicFile committed twice: ", path_);
  if (::fsync(fd_) != 0) throw Error(component_, str(path_, ": fsync failed (", errno_text(), ")"), ExitCode::Runtime);
  ::close(fd_);
  fd_ = -1;
  if (::rename(tmp_path_.c_str(), path_.c_str()) != 0)
    throw Error(component_, str(path_, ": rename failed (", errno_text(), ")"), ExitCode::Runtime);
  committed_ = true;
}

void write_file_atomic(const std::string& path, std::string_view content, const std::string& component) {
  AtomicFile f(path, component);
  f.write(content);
  f.commit();
}

OutputDir::OutputDir(std::string path, bool force, const std::string& component)
    : path_(std::move(path)), component_(component), force_(force) {
  while (path_.size() > 1 && path_.back() == '/') path_.pop_back();
  if (path_exists(path_) && !force_)
    throw Error(component_, str(path_, ": already exists (use --force to replace it)"));
  fs::path p(path_);
  fs::path parent = p.parent_path().empty() ? fs::path(".") : p.parent_path();
  std::error_code ec;
  fs::create_directories(parent, ec);
  if (ec) throw Error(component_, str(parent.string(), ": cannot create directory (", ec.message(), ")"));
  tmp_path_ = (parent / ("." + p.filename().string() + ".tmp." + random_suffix())).string();
  fs::create_directory(tmp_path_, ec);
  if (ec) throw Error(component_, str(tmp_path_, ": cannot create directory (", ec.message(), ")"));
}

OutputDir::~OutputDir() {
  if (!committed_) {
    std::error_code ec;
    fs::remove_all(tmp_path_, ec);
  }
}

std::string OutputDir::file(const std::string& name) const { return tmp_path_ + "/" + name; }

void OutputDir::commit() {
  MC_CHECK(!committed_, "OutputDir committed twice: ", path_);
  std::error_code ec;
  std::string old;
  if (path_exists(path_)) {
    if (!force_) throw Error(component_, str(path_, ": already exists (use --force to replace it)"));
    old = tmp_path_ + ".old";
    fs::rename(path_, old, ec);
    if (ec) throw Error(component_, str(path_, ": cannot replace (", ec.message(), ")"), ExitCode::Runtime);
  }
  fs::rename(tmp_path_, path_, ec);
  if (ec) throw Error(component_, str(path_, ": cannot rename into place (", ec.message(), ")"), ExitCode::Runtime);
  committed_ = true;
  if (!old.empty()) fs::remove_all(old, ec);
}

bool path_exists(const std::string& path) {
  std::error_code ec;
  return fs::exists(path, ec);
}

bool is_directory(const std::string& path) {
  std::error_code ec;
  return fs::is_directory(path, ec);
}

uint64_t file_size(const std::string& path) {
  std::error_code ec;
  auto n = fs::file_size(path, ec);
  if (ec) throw Error("io", str(path, ": cannot read size (", ec.message(), ")"));
  return n;
}

}  // namespace mc
