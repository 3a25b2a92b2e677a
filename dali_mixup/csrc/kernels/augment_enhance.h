// ImageEnhance.Contrast, Color and Sharpness on uint8 HWC images, as Pillow computes them
// (Blend.c, Filter.c's 3x3 SMOOTH).
#ifndef DALI_MIXUP_KERNELS_AUGMENT_ENHANCE_H_
#define DALI_MIXUP_KERNELS_AUGMENT_ENHANCE_H_

#include <cstdint>
#include <cstring>
#include <vector>

#if defined(__AVX2__)
#include <immintrin.h>
#endif

#include "augment_common.h"
#include "augment_point.h"

namespace dali_mixup {
namespace kernels {
namespace augment {

// ImageEnhance.Contrast: blend with the L image's mean grey, int(mean + 0.5).
inline void Contrast(const uint8_t *src, uint8_t *dst, const Shape &s, float alpha) {
  const int64_t pixels = static_cast<int64_t>(s.h) * s.w;
  int64_t sum = 0;
  if (s.c == 3) {
    for (int64_t p = 0; p < pixels; p++) sum += Luma(src + 3 * p);
  } else {
    for (int64_t p = 0; p < pixels; p++) sum += src[p];
  }
  const int mean = static_cast<int>(static_cast<double>(sum) / static_cast<double>(pixels) + 0.5);
  Lut lut;
  for (int i = 0; i < 256; i++) lut[i] = Blend(mean, i, alpha);
  ApplyLut(src, dst, s, lut);
}

// ImageEnhance.Color: blend with the image through L and back (L images: unchanged).
inline void Color(const uint8_t *src, uint8_t *dst, const Shape &s, float alpha) {
  const int64_t pixels = static_cast<int64_t>(s.h) * s.w;
  if (s.c != 3) {
    std::memcpy(dst, src, s.Bytes());
    return;
  }
  for (int64_t p = 0; p < pixels; p++) {
    const uint8_t *in = src + 3 * p;
    const float grey = static_cast<float>(Luma(in));
    for (int b = 0; b < 3; b++) {
      dst[3 * p + b] = Sat8(grey + alpha * (static_cast<float>(in[b]) - grey));
    }
  }
}

#if defined(__AVX2__)
inline __m256 Floats8(const uint8_t *p) {
  return _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i *>(p))));
}

inline __m256i Sat8x8(__m256 v) {
  return _mm256_cvttps_epi32(_mm256_min_ps(_mm256_max_ps(v, _mm256_setzero_ps()), _mm256_set1_ps(255.0f)));
}

// KERNEL1x3 of Filter.c on eight neighbouring values.
inline __m256 Kernel3(const uint8_t *p, int step, __m256 k0, __m256 k1) {
  return _mm256_add_ps(_mm256_add_ps(_mm256_mul_ps(Floats8(p - step), k0), _mm256_mul_ps(Floats8(p), k1)),
                       _mm256_mul_ps(Floats8(p + step), k0));
}
#endif

// ImageEnhance.Sharpness: blend with ImageFilter.SMOOTH (Filter.c's 3x3 float kernel; the
// border rows and columns, and images under 3x3, keep their pixels, so blend to themselves).
inline void Sharpness(const uint8_t *src, uint8_t *dst, const Shape &s, float alpha) {
  std::memcpy(dst, src, s.Bytes());
  if (s.h < 3 || s.w < 3) return;
  const float k = 1.0f / 13.0f, k5 = 5.0f / 13.0f;
  const int c = s.c;
  const int64_t stride = static_cast<int64_t>(s.w) * c;
  for (int y = 1; y < s.h - 1; y++) {
    const uint8_t *up = src + (y - 1) * stride, *mid = src + y * stride, *down = src + (y + 1) * stride;
    uint8_t *out = dst + y * stride;
    int64_t j = c;
#if defined(__AVX2__)
    const __m256 vk = _mm256_set1_ps(k), vk5 = _mm256_set1_ps(k5), va = _mm256_set1_ps(alpha);
    for (; j + 8 + c <= stride; j += 8) {
      __m256 ss = _mm256_add_ps(_mm256_set1_ps(0.5f), Kernel3(down + j, c, vk, vk));
      ss = _mm256_add_ps(ss, Kernel3(mid + j, c, vk, vk5));
      ss = _mm256_add_ps(ss, Kernel3(up + j, c, vk, vk));
      const __m256 smooth = _mm256_cvtepi32_ps(Sat8x8(ss));
      const __m256i v = Sat8x8(_mm256_add_ps(smooth, _mm256_mul_ps(va, _mm256_sub_ps(Floats8(mid + j), smooth))));
      const __m128i words = _mm_packus_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
      _mm_storel_epi64(reinterpret_cast<__m128i *>(out + j), _mm_packus_epi16(words, words));
    }
#endif
    for (; j < stride - c; j++) {
      float ss = 0.5f;  // Filter.c's rounding offset, its order: the row below first
      ss += static_cast<float>(down[j - c]) * k + static_cast<float>(down[j]) * k + static_cast<float>(down[j + c]) * k;
      ss += static_cast<float>(mid[j - c]) * k + static_cast<float>(mid[j]) * k5 + static_cast<float>(mid[j + c]) * k;
      ss += static_cast<float>(up[j - c]) * k + static_cast<float>(up[j]) * k + static_cast<float>(up[j + c]) * k;
      const float smooth = Sat8(ss);
      out[j] = Sat8(smooth + alpha * (static_cast<float>(mid[j]) - smooth));
    }
  }
}

}  // namespace augment
}  // namespace kernels
}  // namespace dali_mixup

#endif  // DALI_MIXUP_KERNELS_AUGMENT_ENHANCE_H_
