#include "desktop_canvas.hpp"

namespace sdbox::desktop {

std::uint32_t band_colour(std::uint64_t ticks) {
  auto red = static_cast<std::uint32_t>((ticks * 53 + 17) & 0xFF);
  auto green = static_cast<std::uint32_t>((ticks * 97 + 85) & 0xFF);
  auto blue = static_cast<std::uint32_t>((ticks * 29 + 170) & 0xFF);
  return red << 16 | green << 8 | blue;
}

namespace {

std::uint32_t bit_line_value(const CanvasState& state, std::uint32_t line) {
  switch (line) {
    case 0: return static_cast<std::uint32_t>(state.ticks);
    case 1: return state.inputs;
    case 2: return static_cast<std::uint32_t>(state.last_input.key_flags) << 16 | state.last_input.scancode;
    default: return static_cast<std::uint32_t>(state.last_input.mouse_x) << 16 | state.last_input.mouse_y;
  }
}

}  // namespace

std::uint32_t canvas_pixel(const CanvasState& state, std::uint32_t x, std::uint32_t y) {
  if (y < canvas::band_rows) return band_colour(state.ticks);
  if (y >= canvas::live_rows) return canvas::background;
  std::uint32_t cell = x / canvas::bit_cell_width;
  if (cell >= 32) return canvas::beside_bits;
  std::uint32_t value = bit_line_value(state, (y - canvas::band_rows) / canvas::bit_line_rows);
  return ((value >> (31 - cell)) & 1u) != 0 ? 0xFFFFFF : 0x000000;
}

void render_rows(const CanvasState& state, std::uint32_t width, std::uint32_t top, std::uint32_t rows,
                 std::span<std::uint8_t> pixels) {
  std::size_t at = 0;
  for (std::uint32_t row = 0; row < rows; ++row) {
    for (std::uint32_t x = 0; x < width; ++x) {
      std::uint32_t rgb = canvas_pixel(state, x, top + row);
      pixels[at++] = static_cast<std::uint8_t>(rgb & 0xFF);
      pixels[at++] = static_cast<std::uint8_t>((rgb >> 8) & 0xFF);
      pixels[at++] = static_cast<std::uint8_t>((rgb >> 16) & 0xFF);
      pixels[at++] = 0xFF;
    }
  }
}

}  // namespace sdbox::desktop
