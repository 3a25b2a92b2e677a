// torchvision's adjust_hue on PIL images: Pillow's RGB <-> HSV (Convert.c) and the hue shift.
#ifndef DALI_MIXUP_KERNELS_AUGMENT_HUE_H_
#define DALI_MIXUP_KERNELS_AUGMENT_HUE_H_

#include <cmath>
#include <cstdint>
#include <cstring>

#include "augment_common.h"

namespace dali_mixup {
namespace kernels {
namespace augment {

inline uint8_t ClipInt8(int v) { return static_cast<uint8_t>(v <= 0 ? 0 : v < 256 ? v : 255); }

// Convert.c's divisions, by the values they divide, computed once per process: the per-pixel
// conversions below then only look them up.
struct HsvTables {
  std::vector<float> quotient;   // [d * 256 + cr]: (float)d / (float)cr, d <= cr (rgb2hsv's rc, gc, bc)
  std::vector<uint8_t> sat;      // [cr * 256 + maxc]: rgb2hsv's saturation byte
  uint8_t sector[256];           // hsv2rgb's i % 6 per hue byte
  float frac[256], fs[256];      // hsv2rgb's f per hue byte, fs per saturation byte
  HsvTables() : quotient(256 * 256), sat(256 * 256) {
    for (int cr = 1; cr < 256; cr++) {
      for (int d = 0; d <= cr; d++) quotient[d * 256 + cr] = static_cast<float>(d) / static_cast<float>(cr);
      for (int maxc = cr; maxc < 256; maxc++)
        sat[cr * 256 + maxc] =
            ClipInt8(static_cast<int>((static_cast<float>(cr) / static_cast<float>(maxc)) * 255.0));
    }
    for (int v = 0; v < 256; v++) {
      const double h6 = static_cast<float>(v) * 6.0 / 255.0;
      const int i = static_cast<int>(std::floor(h6));
      sector[v] = static_cast<uint8_t>(i % 6);
      frac[v] = static_cast<float>(h6 - static_cast<float>(i));
      fs[v] = static_cast<float>(static_cast<float>(v) / 255.0);
    }
  }
};

inline const HsvTables &Tables() {
  static const HsvTables tables;
  return tables;
}

// Convert.c's rgb2hsv_row (float and double as written there).
inline void RgbToHsv(const uint8_t *in, uint8_t *out, const HsvTables &t) {
  const uint8_t r = in[0], g = in[1], b = in[2];
  const uint8_t maxc = std::max(r, std::max(g, b)), minc = std::min(r, std::min(g, b));
  out[2] = maxc;
  if (minc == maxc) {
    out[0] = out[1] = 0;
    return;
  }
  const int cr = maxc - minc;
  const float *q = &t.quotient[cr];
  const float rc = q[(maxc - r) * 256], gc = q[(maxc - g) * 256], bc = q[(maxc - b) * 256];
  float h;
  if (r == maxc)
    h = bc - gc;
  else if (g == maxc)
    h = static_cast<float>(2.0 + rc - bc);
  else
    h = static_cast<float>(4.0 + gc - rc);
  // fmod(x, 1.0) for x = h / 6 + 1 in (0.8, 1.9): x - 1 is exact there, and no library call.
  const double x = h / 6.0 + 1.0;
  h = static_cast<float>(x >= 1.0 ? x - 1.0 : x);
  out[0] = ClipInt8(static_cast<int>(h * 255.0));
  out[1] = t.sat[cr * 256 + maxc];
}

// C's round() (halves away from zero) for x >= 0, inline: x - floor(x) is exact.
inline int RoundPositive(double x) {
  const double r = std::floor(x);
  return static_cast<int>(x - r >= 0.5 ? r + 1.0 : r);
}

// Convert.c's hsv2rgb.
inline void HsvToRgb(const uint8_t *in, uint8_t *out, const HsvTables &tables) {
  const uint8_t h = in[0], s = in[1], v = in[2];
  if (s == 0) {
    out[0] = out[1] = out[2] = v;
    return;
  }
  const float f = tables.frac[h], fs = tables.fs[s];
  const uint8_t p = ClipInt8(RoundPositive(static_cast<float>(v) * (1.0 - fs)));
  const uint8_t q = ClipInt8(RoundPositive(static_cast<float>(v) * (1.0 - fs * f)));
  const uint8_t t = ClipInt8(RoundPositive(static_cast<float>(v) * (1.0 - fs * (1.0 - f))));
  const uint8_t rgb[6][3] = {{v, t, p}, {q, v, p}, {p, v, t}, {p, q, v}, {t, p, v}, {v, p, q}};
  std::memcpy(out, rgb[tables.sector[h]], 3);
}

// torchvision's adjust_hue on a PIL image: H + uint8(int32(factor * 255)), wrapping.
inline void Hue(const uint8_t *src, uint8_t *dst, const Shape &s, double factor) {
  if (s.c != 3) {
    std::memcpy(dst, src, s.Bytes());
    return;
  }
  const HsvTables &tables = Tables();
  const uint8_t shift = static_cast<uint8_t>(static_cast<int32_t>(factor * 255));
  const int64_t pixels = static_cast<int64_t>(s.h) * s.w;
  for (int64_t p = 0; p < pixels; p++) {
    uint8_t hsv[3];
    RgbToHsv(src + 3 * p, hsv, tables);
    hsv[0] = static_cast<uint8_t>(hsv[0] + shift);
    HsvToRgb(hsv, dst + 3 * p, tables);
  }
}

}  // namespace augment
}  // namespace kernels
}  // namespace dali_mixup

#endif  // DALI_MIXUP_KERNELS_AUGMENT_HUE_H_
