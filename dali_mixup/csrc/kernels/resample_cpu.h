// Separable, antialiased resampling of one uint8 HWC image on the CPU: Pillow's algorithm
// (Image.resize with BILINEAR or BICUBIC; libImaging/Resample.c), bit for bit for L and RGB images
// (other channel counts: each channel as Pillow's L; Pillow premultiplies RGBA by alpha first):
// per axis, weights of the filter stretched by the downscale factor, computed in double and
// rounded to fixed point with 22 fraction bits; two passes in Pillow 13's order (HorizontalFirst),
// the first over only the rows or columns the second reads, rounded and clamped to uint8 in
// between. A horizontal flip rides on the horizontal pass (columns are independent, so flipping
// there equals flipping the result).
//
// Knows nothing of DALI: plain pointers, sizes and a scratch buffer of the caller's.
#ifndef DALI_MIXUP_KERNELS_RESAMPLE_CPU_H_
#define DALI_MIXUP_KERNELS_RESAMPLE_CPU_H_

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#if defined(__SSSE3__)
#include <immintrin.h>
#endif

namespace dali_mixup {
namespace kernels {

enum class Filter : int { kBilinear = 0, kBicubic = 1 };

// Pillow's PRECISION_BITS for 8-bit images: 255 * sum|w| stays inside int32.
inline constexpr int kPrecisionBits = 32 - 8 - 2;

inline double FilterSupport(Filter f) { return f == Filter::kBicubic ? 2.0 : 1.0; }

inline double FilterWeight(Filter f, double x) {
  x = std::fabs(x);
  if (f == Filter::kBilinear) return x < 1.0 ? 1.0 - x : 0.0;
  constexpr double a = -0.5;  // Pillow's (and Keys') bicubic convolution
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
  if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
  return 0.0;
}

// One axis: output o reads inputs [first[o], first[o] + count[o]) with weights[o * taps + t].
struct AxisWeights {
  int taps = 0;
  std::vector<int> first, count;
  std::vector<int32_t> weights;
};

// Pillow's precompute_coeffs and normalize_coeffs_8bpc for the input span [0, in_size).
inline void ComputeAxis(AxisWeights &a, int in_size, int out_size, Filter f) {
  const double scale = static_cast<double>(in_size) / out_size;
  const double filterscale = std::max(scale, 1.0);
  const double support = FilterSupport(f) * filterscale;
  a.taps = static_cast<int>(std::ceil(support)) * 2 + 1;
  a.first.assign(out_size, 0);
  a.count.assign(out_size, 0);
  a.weights.assign(static_cast<size_t>(out_size) * a.taps, 0);
  std::vector<double> w(a.taps);
  const double ss = 1.0 / filterscale;  // multiplied, not divided: Pillow's roundings
  for (int o = 0; o < out_size; o++) {
    const double center = (o + 0.5) * scale;
    const int lo = std::max(static_cast<int>(center - support + 0.5), 0);
    const int n = std::min(static_cast<int>(center + support + 0.5), in_size) - lo;
    double sum = 0.0;
    for (int t = 0; t < n; t++) sum += w[t] = FilterWeight(f, (t + lo - center + 0.5) * ss);
    int32_t *k = &a.weights[static_cast<size_t>(o) * a.taps];
    for (int t = 0; t < n; t++) {
      const double v = (sum != 0.0 ? w[t] / sum : w[t]) * (1 << kPrecisionBits);
      k[t] = static_cast<int32_t>(v < 0 ? v - 0.5 : v + 0.5);
    }
    a.first[o] = lo;
    a.count[o] = n;
  }
}

// Pillow's clip8: the fixed-point sum, rounded (the sum starts at one half), as uint8.
inline uint8_t Clip8(int32_t s) {
  return static_cast<uint8_t>(std::clamp(s >> kPrecisionBits, 0, 255));
}

inline constexpr int32_t kHalf = 1 << (kPrecisionBits - 1);

// Gives every output of the axis the same window length (the longest): windows that would run
// past the input move back and their weights move forward, the new places weighing 0. The sums
// stay exactly Pillow's; the horizontal pass then runs loops of a fixed length.
inline void EvenWindows(AxisWeights &a, int in_size) {
  const int n = *std::max_element(a.count.begin(), a.count.end());
  for (size_t o = 0; o < a.first.size(); o++) {
    const int shift = std::max(a.first[o] + n - in_size, 0);
    int32_t *k = &a.weights[o * a.taps];
    if (shift > 0) {
      std::copy_backward(k, k + a.count[o], k + a.count[o] + shift);
      std::fill(k, k + shift, 0);
    }
    a.first[o] -= shift;
    a.count[o] = n;
  }
}

// Row `src` (C channels) resampled to dst (width a.first.size()), flipped if asked; every
// window has N taps (EvenWindows), or a.count[x] where N is 0. C 0: `channels` at run time,
// with `sums` of that many ints.
template <int C, int N>
void HorizontalRow(const uint8_t *src, uint8_t *dst, const AxisWeights &a, bool mirror, int x0,
                   int channels = C, int32_t *sums = nullptr) {
  const int ch = C > 0 ? C : channels;
  int32_t own[C > 0 ? C : 1];
  int32_t *s = C > 0 ? own : sums;
  const int out_w = static_cast<int>(a.first.size());
  for (int x = x0; x < out_w; x++) {
    const int32_t *k = &a.weights[static_cast<size_t>(x) * a.taps];
    const uint8_t *p = src + static_cast<size_t>(a.first[x]) * ch;
    std::fill(s, s + ch, kHalf);
    const int n = N > 0 ? N : a.count[x];
    for (int t = 0; t < n; t++, p += ch)
      for (int c = 0; c < ch; c++) s[c] += p[c] * k[t];
    uint8_t *q = dst + static_cast<size_t>(mirror ? out_w - 1 - x : x) * ch;
    for (int c = 0; c < ch; c++) q[c] = Clip8(s[c]);
  }
}

// HorizontalRow with the window length fixed at compile time where it is at most kFixedTaps
// (downscales up to about 4x bilinear, 2x bicubic).
inline constexpr int kFixedTaps = 10;

template <int C, int N = 1>
void HorizontalRowFixed(const uint8_t *src, uint8_t *dst, const AxisWeights &a, bool mirror, int x0 = 0) {
  if constexpr (N > kFixedTaps) {
    HorizontalRow<C, 0>(src, dst, a, mirror, x0);
  } else {
    if (a.count.front() == N) return HorizontalRow<C, N>(src, dst, a, mirror, x0);
    HorizontalRowFixed<C, N + 1>(src, dst, a, mirror, x0);
  }
}

#if defined(__SSSE3__)
// The horizontal pass of 3-channel rows with SSSE3 (AVX2: two pixels per instruction), exact:
// a weight k (|k| < 2^23) is split into 16-bit halves, k = hi * 2^15 + lo with 0 <= lo < 2^15,
// so that pmaddwd sums the pixel x weight products of two taps per channel; (sum hi) * 2^15 +
// (sum lo) is Pillow's int32 sum (modular arithmetic: exact wherever Pillow's sum fits int32,
// which its precision ensures).
struct RgbPairWeights {
  int pairs = 0;       // taps / 2, rounded up
  int simd_end = 0;    // outputs before this one read whole 8-byte loads inside the row
  // Per two outputs A, B and pair of taps: A's lo, B's lo, A's hi, B's hi, each 8 int16
  // (k0 k1 k0 k1 k0 k1 0 0): one 256-bit load gives both outputs' halves.
  std::vector<int16_t> w;
};

inline constexpr int kGroup = 32;  // int16 per two outputs and pair

inline void PrepareRgbPairs(const AxisWeights &a, int in_w, RgbPairWeights &r) {
  const int out_w = static_cast<int>(a.first.size()), n = a.count.front();
  r.pairs = (n + 1) / 2;
  r.w.assign(static_cast<size_t>((out_w + 1) / 2) * r.pairs * kGroup, 0);
  r.simd_end = 0;
  for (int x = 0; x < out_w; x++) {
    // Windows only move right (EvenWindows keeps them in order): the ones that fit are a prefix.
    if (static_cast<size_t>(a.first[x]) * 3 + 6 * r.pairs + 2 <= static_cast<size_t>(in_w) * 3) r.simd_end = x + 1;
    const int32_t *k = &a.weights[static_cast<size_t>(x) * a.taps];
    for (int j = 0; j < r.pairs; j++) {
      const int32_t k0 = k[2 * j], k1 = 2 * j + 1 < n ? k[2 * j + 1] : 0;
      int16_t *lo = &r.w[(static_cast<size_t>(x / 2) * r.pairs + j) * kGroup + (x % 2) * 8], *hi = lo + 16;
      for (int c = 0; c < 3; c++) {
        lo[2 * c] = static_cast<int16_t>(k0 & 0x7FFF);
        lo[2 * c + 1] = static_cast<int16_t>(k1 & 0x7FFF);
        hi[2 * c] = static_cast<int16_t>(k0 >> 15);
        hi[2 * c + 1] = static_cast<int16_t>(k1 >> 15);
      }
    }
  }
}

// Taps 2j and 2j+1 of one pair: bytes 0-2 and 3-5, as int16 (t.c0, t1.c0, t.c1, t1.c1, ...).
inline __m128i PairMask() {
  return _mm_setr_epi8(0, -1, 3, -1, 1, -1, 4, -1, 2, -1, 5, -1, -1, -1, -1, -1);
}

inline __m128i Load8(const uint8_t *p) { return _mm_loadl_epi64(reinterpret_cast<const __m128i *>(p)); }

#if defined(__AVX2__)
// Two output pixels (windows pa, pb; their group of weights w): (c0, c1, c2, 0) each, as int32,
// in the low and high 128 bits. P pairs of taps (0: `pairs`, at run time).
template <int P>
inline __m256i RgbPixels2(const uint8_t *pa, const uint8_t *pb, const int16_t *w, int pairs) {
  if constexpr (P > 0) pairs = P;
  const __m256i mask = _mm256_broadcastsi128_si256(PairMask());
  __m256i lo = _mm256_setzero_si256(), hi = _mm256_setzero_si256();
  for (int j = 0; j < pairs; j++, pa += 6, pb += 6, w += kGroup) {
    const __m256i v = _mm256_shuffle_epi8(_mm256_set_m128i(Load8(pb), Load8(pa)), mask);
    lo = _mm256_add_epi32(lo, _mm256_madd_epi16(v, _mm256_loadu_si256(reinterpret_cast<const __m256i *>(w))));
    hi = _mm256_add_epi32(hi, _mm256_madd_epi16(v, _mm256_loadu_si256(reinterpret_cast<const __m256i *>(w + 16))));
  }
  const __m256i sum = _mm256_add_epi32(_mm256_add_epi32(_mm256_slli_epi32(hi, 15), lo), _mm256_set1_epi32(kHalf));
  return _mm256_srai_epi32(sum, kPrecisionBits);
}
#else
// (sum hi) * 2^15 + (sum lo) + one half, shifted down: Pillow's sums before the clamp.
inline __m128i Finish(__m128i lo, __m128i hi) {
  return _mm_srai_epi32(_mm_add_epi32(_mm_add_epi32(_mm_slli_epi32(hi, 15), lo), _mm_set1_epi32(kHalf)),
                        kPrecisionBits);
}

// One output pixel (window p; w: its lo half, hi 16 further): (c0, c1, c2, 0) as int32.
template <int P>
inline __m128i RgbPixel(const uint8_t *p, const int16_t *w, int pairs) {
  if constexpr (P > 0) pairs = P;
  const __m128i mask = PairMask();
  __m128i lo = _mm_setzero_si128(), hi = _mm_setzero_si128();
  for (int j = 0; j < pairs; j++, p += 6, w += kGroup) {
    const __m128i v = _mm_shuffle_epi8(Load8(p), mask);
    lo = _mm_add_epi32(lo, _mm_madd_epi16(v, _mm_loadu_si128(reinterpret_cast<const __m128i *>(w))));
    hi = _mm_add_epi32(hi, _mm_madd_epi16(v, _mm_loadu_si128(reinterpret_cast<const __m128i *>(w + 16))));
  }
  return Finish(lo, hi);
}
#endif

// Four output pixels (a, b, c, d in output order) clamped to uint8 and stored as 12 bytes.
inline void StoreRgb4(uint8_t *q, __m128i a, __m128i b, __m128i c, __m128i d) {
  const __m128i compact = _mm_setr_epi8(0, 1, 2, 4, 5, 6, 8, 9, 10, 12, 13, 14, -1, -1, -1, -1);
  // Saturating packs clamp to [0, 255] as Pillow's clip8.
  const __m128i bytes = _mm_shuffle_epi8(_mm_packus_epi16(_mm_packs_epi32(a, b), _mm_packs_epi32(c, d)), compact);
  _mm_storel_epi64(reinterpret_cast<__m128i *>(q), bytes);
  const int32_t tail = _mm_cvtsi128_si32(_mm_srli_si128(bytes, 8));
  std::memcpy(q + 8, &tail, 4);
}

// One row: four outputs at a time where their loads stay inside the row, the rest as HorizontalRow.
template <int P>
void HorizontalRowRgb(const uint8_t *src, uint8_t *dst, const AxisWeights &a, const RgbPairWeights &r,
                      bool mirror) {
  const int out_w = static_cast<int>(a.first.size()), pairs = r.pairs;
  const int *first = a.first.data();
  const int16_t *w = r.w.data();
  const size_t group = static_cast<size_t>(pairs) * kGroup;
  int x = 0;
  for (; x + 4 <= r.simd_end; x += 4, w += 2 * group) {
    const uint8_t *p0 = src + static_cast<size_t>(first[x]) * 3, *p1 = src + static_cast<size_t>(first[x + 1]) * 3;
    const uint8_t *p2 = src + static_cast<size_t>(first[x + 2]) * 3, *p3 = src + static_cast<size_t>(first[x + 3]) * 3;
#if defined(__AVX2__)
    const __m256i v01 = RgbPixels2<P>(p0, p1, w, pairs), v23 = RgbPixels2<P>(p2, p3, w + group, pairs);
    const __m128i o0 = _mm256_castsi256_si128(v01), o1 = _mm256_extracti128_si256(v01, 1);
    const __m128i o2 = _mm256_castsi256_si128(v23), o3 = _mm256_extracti128_si256(v23, 1);
#else
    const __m128i o0 = RgbPixel<P>(p0, w, pairs), o1 = RgbPixel<P>(p1, w + 8, pairs);
    const __m128i o2 = RgbPixel<P>(p2, w + group, pairs), o3 = RgbPixel<P>(p3, w + group + 8, pairs);
#endif
    if (mirror)
      StoreRgb4(dst + static_cast<size_t>(out_w - 4 - x) * 3, o3, o2, o1, o0);
    else
      StoreRgb4(dst + static_cast<size_t>(x) * 3, o0, o1, o2, o3);
  }
  HorizontalRowFixed<3>(src, dst, a, mirror, x);
}

// HorizontalRowRgb with the pairs fixed at compile time up to 5 (10 taps).
inline void HorizontalRowsRgb(const uint8_t *src, uint8_t *dst, int rows, size_t in_row, size_t out_row,
                              const AxisWeights &a, const RgbPairWeights &r, bool mirror) {
  auto each = [&](auto row) {
    for (int y = 0; y < rows; y++, src += in_row, dst += out_row) row(src, dst, a, r, mirror);
  };
  switch (r.pairs) {
    case 1: return each(HorizontalRowRgb<1>);
    case 2: return each(HorizontalRowRgb<2>);
    case 3: return each(HorizontalRowRgb<3>);
    case 4: return each(HorizontalRowRgb<4>);
    case 5: return each(HorizontalRowRgb<5>);
    default: return each(HorizontalRowRgb<0>);
  }
}
#endif  // __SSSE3__

// Output row from `count` input rows `row_len` bytes apart starting at src; acc: row_len ints.
// The loops run along the row, so they vectorize whatever C is.
inline void VerticalRow(const uint8_t *src, size_t row_len, const int32_t *k, int count, uint8_t *dst,
                        int32_t *acc) {
  std::fill(acc, acc + row_len, kHalf);
  for (int t = 0; t < count; t++) {
    const uint8_t *p = src + t * row_len;
    const int32_t w = k[t];
    for (size_t j = 0; j < row_len; j++) acc[j] += p[j] * w;
  }
  for (size_t j = 0; j < row_len; j++) dst[j] = Clip8(acc[j]);
}

// What one resampling needs besides its input and output; reused from image to image.
struct ResampleScratch {
  AxisWeights horizontal, vertical;
#if defined(__SSSE3__)
  RgbPairWeights rgb;
#endif
  std::vector<uint8_t> rows;
  std::vector<int32_t> acc;
};

struct ResampleShape {
  int in_h, in_w, out_h, out_w, channels;
};

// Horizontal pass over `rows` rows of `src` (in_w x C each) into dst (out_w x C each).
inline void HorizontalPass(const uint8_t *src, uint8_t *dst, int rows, const ResampleShape &s, bool mirror,
                           ResampleScratch &scratch) {
  const int C = s.channels;
  const size_t in_row = static_cast<size_t>(s.in_w) * C, out_row = static_cast<size_t>(s.out_w) * C;
  const AxisWeights &a = scratch.horizontal;
  scratch.acc.resize(std::max<size_t>(scratch.acc.size(), C));
#if defined(__SSSE3__)
  if (C == 3) {
    PrepareRgbPairs(a, s.in_w, scratch.rgb);
    return HorizontalRowsRgb(src, dst, rows, in_row, out_row, a, scratch.rgb, mirror);
  }
#endif
  for (int y = 0; y < rows; y++, src += in_row, dst += out_row) {
    if (C == 3)
      HorizontalRowFixed<3>(src, dst, a, mirror);
    else if (C == 1)
      HorizontalRowFixed<1>(src, dst, a, mirror);
    else if (C == 4)
      HorizontalRowFixed<4>(src, dst, a, mirror);
    else
      HorizontalRow<0, 0>(src, dst, a, mirror, 0, C, scratch.acc.data());
  }
}

// Vertical pass: output rows of row_len bytes from the rows of src, whose first row is input row y0.
inline void VerticalPass(const uint8_t *src, uint8_t *dst, size_t row_len, int out_h, int y0,
                         ResampleScratch &scratch) {
  const AxisWeights &a = scratch.vertical;
  scratch.acc.resize(std::max(scratch.acc.size(), row_len));
  for (int y = 0; y < out_h; y++)
    VerticalRow(src + (a.first[y] - y0) * row_len, row_len, &a.weights[static_cast<size_t>(y) * a.taps],
                a.count[y], dst + y * row_len, scratch.acc.data());
}

// Whether Pillow (13 and newer) resamples the width first: unless the height shrinks by more
// than twice as many pixels as the width (then the narrower vertical result is cheaper to
// resample across). Pillow 12 and older always go width first; the two orders round apart.
inline bool HorizontalFirst(const ResampleShape &s) {
  const int dh = s.in_h - s.out_h, dw = s.in_w - s.out_w;
  return !(dh > 0 && dh > dw * 2);
}

// in: in_h x in_w x C, rows packed; out: out_h x out_w x C, rows packed. All sizes >= 1.
inline void ResampleHWC(const uint8_t *in, uint8_t *out, const ResampleShape &s, Filter filter, bool mirror,
                        ResampleScratch &scratch) {
  const size_t in_row = static_cast<size_t>(s.in_w) * s.channels;
  const size_t out_row = static_cast<size_t>(s.out_w) * s.channels;
  // A flip at the same width is a horizontal pass too: Pillow's weights are then one-hot.
  const bool horizontal = s.in_w != s.out_w || mirror, vertical = s.in_h != s.out_h;
  if (horizontal) {
    ComputeAxis(scratch.horizontal, s.in_w, s.out_w, filter);
    EvenWindows(scratch.horizontal, s.in_w);
  }
  if (vertical) ComputeAxis(scratch.vertical, s.in_h, s.out_h, filter);
  if (!horizontal && !vertical) {
    std::memcpy(out, in, static_cast<size_t>(s.in_h) * in_row);
  } else if (!vertical) {
    HorizontalPass(in, out, s.in_h, s, mirror, scratch);
  } else if (!horizontal) {
    VerticalPass(in, out, in_row, s.out_h, 0, scratch);
  } else if (HorizontalFirst(s)) {
    // Only the input rows the vertical pass reads.
    const AxisWeights &v = scratch.vertical;
    const int y0 = v.first.front(), y1 = v.first.back() + v.count.back();
    scratch.rows.resize(static_cast<size_t>(y1 - y0) * out_row);
    HorizontalPass(in + y0 * in_row, scratch.rows.data(), y1 - y0, s, mirror, scratch);
    VerticalPass(scratch.rows.data(), out, out_row, s.out_h, y0, scratch);
  } else {
    scratch.rows.resize(static_cast<size_t>(s.out_h) * in_row);
    VerticalPass(in, scratch.rows.data(), in_row, s.out_h, 0, scratch);
    HorizontalPass(scratch.rows.data(), out, s.out_h, s, mirror, scratch);
  }
}

}  // namespace kernels
}  // namespace dali_mixup

#endif  // DALI_MIXUP_KERNELS_RESAMPLE_CPU_H_
