#pragma once

#include "session_registry.hpp"

#include <cstdint>
#include <span>

namespace sdbox::desktop {

/// The test desktop's picture: a pure function of the session's CanvasState and the position,
/// so a test (or the gateway's tests later) can predict every pixel.
///
/// Layout, top to bottom:
///   rows   0..63   the clock band: one colour per canvas tick (band_colour)
///   rows  64..127  four bit lines of 16 rows, each 32 cells of 16x16 px from x = 0, most
///                  significant bit first, white = 1, black = 0:
///                  64 ticks, 80 inputs received, 96 key flags << 16 | scancode,
///                  112 mouse x << 16 | mouse y; right of the cells dark grey
///   rows 128..     a constant background
namespace canvas {
inline constexpr std::uint32_t band_rows = 64;
inline constexpr std::uint32_t bit_line_rows = 16;
inline constexpr std::uint32_t bit_cell_width = 16;
/// The rows that change with the clock or with input; everything below is constant.
inline constexpr std::uint32_t live_rows = band_rows + 4 * bit_line_rows;
inline constexpr std::uint32_t background = 0x3C6E8C;
inline constexpr std::uint32_t beside_bits = 0x202020;
}  // namespace canvas

/// 0xRRGGBB of the clock band at `ticks`: each channel steps by a different prime, so
/// neighbouring ticks always differ.
std::uint32_t band_colour(std::uint64_t ticks);

/// 0xRRGGBB at (x, y).
std::uint32_t canvas_pixel(const CanvasState& state, std::uint32_t x, std::uint32_t y);

/// Rows [top, top + rows) as 32-bpp BGRA, top row first, into `bgra` (width * rows * 4 bytes).
void render_rows(const CanvasState& state, std::uint32_t width, std::uint32_t top, std::uint32_t rows,
                 std::span<std::uint8_t> bgra);

}  // namespace sdbox::desktop
