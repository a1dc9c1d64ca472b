#include "sdbox/common/image.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <map>
#include <fstream>
#include <iterator>

namespace sdbox {

namespace {

Error bad_image(std::string message) { return make_error(ErrorCategory::config, "image: " + std::move(message)); }

class TiffReader {
 public:
  explicit TiffReader(ByteView data) : data_(data) {}
  bool little = true;

  [[nodiscard]] bool has(std::size_t offset, std::size_t size) const {
    return offset <= data_.size() && size <= data_.size() - offset;
  }
  [[nodiscard]] std::uint32_t u16(std::size_t at) const {
    return little ? (data_[at] | (data_[at + 1] << 8)) : ((data_[at] << 8) | data_[at + 1]);
  }
  [[nodiscard]] std::uint32_t u32(std::size_t at) const {
    return little ? (u16(at) | (u16(at + 2) << 16)) : ((u16(at) << 16) | u16(at + 2));
  }

 private:
  ByteView data_;
};

struct Entry {
  std::uint32_t type = 0;
  std::uint32_t count = 0;
  std::size_t value_at = 0;  // where the value (or array) starts
};

constexpr std::uint32_t kShort = 3;
constexpr std::uint32_t kLong = 4;
constexpr std::uint32_t kRational = 5;

}  // namespace

Result<GrayImage> decode_tiff(ByteView data) {
  TiffReader in(data);
  if (!in.has(0, 8)) return bad_image("TIFF shorter than its header");
  if (data[0] == 'I' && data[1] == 'I') {
    in.little = true;
  } else if (data[0] == 'M' && data[1] == 'M') {
    in.little = false;
  } else {
    return bad_image("not a TIFF (no byte-order mark)");
  }
  if (in.u16(2) != 42) return bad_image("not a TIFF (no 42)");
  const std::size_t ifd = in.u32(4);
  if (!in.has(ifd, 2)) return bad_image("first directory outside the file");
  const std::size_t entries = in.u16(ifd);
  if (!in.has(ifd + 2, entries * 12)) return bad_image("directory overruns the file");

  std::map<std::uint32_t, Entry> tags;
  for (std::size_t i = 0; i < entries; ++i) {
    const std::size_t at = ifd + 2 + i * 12;
    Entry entry{in.u16(at + 2), in.u32(at + 4), at + 8};
    const std::size_t unit = entry.type == kShort ? 2 : entry.type == kLong ? 4 : entry.type == kRational ? 8 : 1;
    if (entry.count > (1u << 20)) return bad_image("tag with an absurd count");
    if (unit * entry.count > 4) entry.value_at = in.u32(at + 8);
    if (!in.has(entry.value_at, unit * entry.count)) return bad_image(fmt::format("tag {} points outside the file", in.u16(at)));
    tags[in.u16(at)] = entry;
  }
  auto number = [&](std::uint32_t tag, std::size_t index) -> Result<std::uint32_t> {
    const auto found = tags.find(tag);
    if (found == tags.end()) return bad_image(fmt::format("TIFF tag {} is missing", tag));
    const Entry& entry = found->second;
    if (index >= entry.count) return bad_image(fmt::format("TIFF tag {} has too few values", tag));
    if (entry.type == kShort) return in.u16(entry.value_at + index * 2);
    if (entry.type == kLong) return in.u32(entry.value_at + index * 4);
    return bad_image(fmt::format("TIFF tag {} is not an integer", tag));
  };
  auto width = number(256, 0), height = number(257, 0);
  if (!width) return width.error();
  if (!height) return height.error();
  if (*width == 0 || *height == 0 || *width > kMaxImageSide || *height > kMaxImageSide) {
    return bad_image(fmt::format("{}x{} is not a supported size", *width, *height));
  }
  // A tag that may be left out: its first value, or `absent` when it is not there.
  auto number_or = [&](std::uint32_t tag, std::uint32_t absent) -> Result<std::uint32_t> {
    if (!tags.contains(tag)) return absent;
    return number(tag, 0);
  };
  const auto bits = number_or(258, 8), samples = number_or(277, 1), compression = number_or(259, 1);
  for (const auto* value : {&bits, &samples, &compression}) {
    if (!*value) return value->error();
  }
  if (*bits != 8) return bad_image("only 8 bits per sample are supported");
  if (*samples != 1) return bad_image("only one sample per pixel is supported");
  if (*compression != 1) return bad_image("compressed TIFF is not supported");
  const auto photometric = number_or(262, 1);
  if (!photometric) return photometric.error();
  if (*photometric > 1) return bad_image("only greyscale TIFF is supported");
  if (!tags.count(273) || !tags.count(279)) return bad_image("strip offsets or byte counts are missing");
  const std::uint32_t strips = tags[273].count;
  if (strips != tags[279].count) return bad_image("strip tables disagree");

  GrayImage image(static_cast<int>(*width), static_cast<int>(*height), 500, 0);
  std::size_t filled = 0;
  for (std::uint32_t s = 0; s < strips; ++s) {
    auto offset = number(273, s), count = number(279, s);
    if (!offset || !count) return bad_image("bad strip table");
    if (!in.has(*offset, *count)) return bad_image("strip outside the file");
    const std::size_t take = std::min<std::size_t>(*count, image.pixels.size() - filled);
    std::copy_n(data.begin() + *offset, take, image.pixels.begin() + static_cast<std::ptrdiff_t>(filled));
    filled += take;
  }
  if (filled != image.pixels.size()) return bad_image("strips hold fewer pixels than the image size");
  if (*photometric == 0) {
    for (auto& pixel : image.pixels) pixel = static_cast<std::uint8_t>(255 - pixel);
  }
  if (const auto resolution = tags.find(282); resolution != tags.end() && resolution->second.type == kRational) {
    const double numerator = in.u32(resolution->second.value_at);
    const double denominator = in.u32(resolution->second.value_at + 4);
    double dpi = denominator > 0 ? numerator / denominator : 0;
    const auto unit = number_or(296, 2);
    if (!unit) return unit.error();
    if (*unit == 3) dpi *= 2.54;  // centimetres
    if (dpi >= 100 && dpi <= 5000) image.dpi = dpi;
  }
  return image;
}

Result<GrayImage> decode_pgm(ByteView data, double dpi) {
  std::size_t at = 0;
  auto token = [&]() -> std::string {
    while (at < data.size()) {
      if (data[at] == '#') {
        while (at < data.size() && data[at] != '\n') ++at;
      } else if (std::isspace(data[at]) != 0) {
        ++at;
      } else {
        break;
      }
    }
    std::string text;
    while (at < data.size() && std::isspace(data[at]) == 0 && text.size() < 16) text.push_back(static_cast<char>(data[at++]));
    return text;
  };
  if (token() != "P5") return bad_image("not a binary PGM (P5)");
  auto parse = [](const std::string& text, int max) -> int {
    if (text.empty() || text.size() > 5 || text.find_first_not_of("0123456789") != std::string::npos) return -1;
    const int value = std::stoi(text);
    return value >= 1 && value <= max ? value : -1;
  };
  const int width = parse(token(), kMaxImageSide);
  const int height = parse(token(), kMaxImageSide);
  const int maxval = parse(token(), 255);
  if (width < 0 || height < 0 || maxval != 255) return bad_image("bad PGM header (size, or maxval other than 255)");
  ++at;  // the single whitespace after maxval
  const std::size_t size = static_cast<std::size_t>(width) * static_cast<std::size_t>(height);
  if (at > data.size() || data.size() - at != size) return bad_image("PGM pixel data does not match its size");
  GrayImage image(width, height, dpi, 0);
  std::copy_n(data.begin() + static_cast<std::ptrdiff_t>(at), size, image.pixels.begin());
  return image;
}

Bytes encode_pgm(const GrayImage& image) {
  Bytes out = bytes_of(fmt::format("P5\n{} {}\n255\n", image.width, image.height));
  append(out, image.pixels);
  return out;
}

Bytes encode_tiff(const GrayImage& image) {
  // Header, one directory of 10 entries, the resolution rational, then the pixels.
  Bytes out{'I', 'I', 42, 0, 8, 0, 0, 0};
  auto put16 = [&](std::uint32_t v) {
    out.push_back(static_cast<std::uint8_t>(v));
    out.push_back(static_cast<std::uint8_t>(v >> 8));
  };
  auto put32 = [&](std::uint32_t v) {
    put16(v & 0xFFFF);
    put16(v >> 16);
  };
  constexpr std::uint32_t kEntries = 10;
  const std::uint32_t resolution_at = 8 + 2 + kEntries * 12 + 4;
  const std::uint32_t pixels_at = resolution_at + 8;
  auto entry = [&](std::uint32_t tag, std::uint32_t type, std::uint32_t value) {
    put16(tag);
    put16(type);
    put32(1);
    if (type == kShort) {
      put16(value);
      put16(0);
    } else {
      put32(value);
    }
  };
  put16(kEntries);
  entry(256, kLong, static_cast<std::uint32_t>(image.width));
  entry(257, kLong, static_cast<std::uint32_t>(image.height));
  entry(258, kShort, 8);
  entry(259, kShort, 1);
  entry(262, kShort, 1);
  entry(273, kLong, pixels_at);
  entry(277, kShort, 1);
  entry(278, kLong, static_cast<std::uint32_t>(image.height));
  entry(279, kLong, static_cast<std::uint32_t>(image.pixels.size()));
  entry(282, kRational, resolution_at);
  put32(0);  // no next directory
  put32(static_cast<std::uint32_t>(std::lround(image.dpi * 100)));
  put32(100);
  append(out, image.pixels);
  return out;
}

Result<GrayImage> read_image(const std::filesystem::path& path, double pgm_dpi) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error(ErrorCategory::io, fmt::format("cannot read {}", path.string()));
  const Bytes data{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  const auto extension = path.extension().string();
  auto image = (extension == ".pgm") ? decode_pgm(data, pgm_dpi) : decode_tiff(data);
  if (!image) return make_error(image.error().category, fmt::format("{}: {}", path.string(), image.error().message));
  return image;
}

Status write_image(const GrayImage& image, const std::filesystem::path& path) {
  const Bytes data = path.extension() == ".pgm" ? encode_pgm(image) : encode_tiff(image);
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
  if (!out) return make_error(ErrorCategory::io, fmt::format("cannot write {}", path.string()));
  return {};
}

}  // namespace sdbox
