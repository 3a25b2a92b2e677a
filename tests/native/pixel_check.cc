// Checks that the GPU kernel's per-pixel body (blend.h's MixPixel, run here on the host over
// every pixel, as the kernel's threads do) writes exactly what the CPU loops (mix_cpu.h) write:
// every layout pair, input and output type, normalization, and a copy, a blend and CutMix
// boxes at the corners, edges and inside, over edge image sizes. Prints the number of cases;
// exits 1 at the first difference, naming the case.
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <vector>

#include "kernels/blend.h"
#include "kernels/mix_cpu.h"

using dali_mixup::kernels::Geometry;
using dali_mixup::kernels::MixImageCpu;
using dali_mixup::kernels::MixPixel;
using dali_mixup::kernels::Normalization;
using dali_mixup::kernels::Sample;

namespace {

int cases = 0;

template <typename T>
std::vector<T> Random(size_t n, std::mt19937 &rng) {
  std::vector<T> v(n);
  std::uniform_real_distribution<float> u(-20.0f, 280.0f);
  for (auto &x : v) x = static_cast<T>(std::is_same_v<T, uint8_t> ? static_cast<float>(rng() % 256) : u(rng));
  return v;
}

template <typename In, typename Out>
bool Check(const Geometry &g, const Sample &p, bool normalize, std::mt19937 &rng) {
  const size_t n = static_cast<size_t>(g.H * g.W * g.C);
  const std::vector<In> own = Random<In>(n, rng), other = Random<In>(n, rng);
  std::vector<float> scale(g.C), bias(g.C);
  for (int c = 0; c < g.C; c++) {
    scale[c] = 1.0f / (50.0f + 3.0f * c);
    bias[c] = -(100.0f + 7.0f * c) * scale[c];
  }
  const Normalization norm = normalize ? Normalization{scale.data(), bias.data()} : Normalization{};
  std::vector<Out> cpu(n), pixel(n);
  MixImageCpu(own.data(), other.data(), cpu.data(), g, p, norm);
  // Both index types the kernel uses: 32-bit for every realistic image, 64-bit beyond.
  std::vector<Out> pixel32(n);
  for (int64_t k = 0; k < g.H * g.W; k++) {
    MixPixel<int64_t>(own.data(), other.data(), pixel.data(), p, g, norm.scale, norm.bias, k);
    MixPixel<uint32_t>(own.data(), other.data(), pixel32.data(), p, g, norm.scale, norm.bias,
                       static_cast<uint32_t>(k));
  }
  cases++;
  if (std::memcmp(cpu.data(), pixel.data(), n * sizeof(Out)) != 0 ||
      std::memcmp(cpu.data(), pixel32.data(), n * sizeof(Out)) != 0) {
    std::printf("differs: H=%lld W=%lld C=%d in_chw=%d out_chw=%d norm=%d cut=%d weight=%g box=%d,%d,%d,%d in=%zu out=%zu\n",
                static_cast<long long>(g.H), static_cast<long long>(g.W), g.C, g.in_chw, g.out_chw,
                normalize, p.cut, p.weight, p.box[0], p.box[1], p.box[2], p.box[3], sizeof(In), sizeof(Out));
    return false;
  }
  return true;
}

template <typename In>
bool CheckOutputs(const Geometry &g, const Sample &p, bool normalize, std::mt19937 &rng) {
  return Check<In, float>(g, p, normalize, rng) && Check<In, dali::float16>(g, p, normalize, rng) &&
         (normalize || Check<In, uint8_t>(g, p, normalize, rng));
}

}  // namespace

// float16 stores round to nearest even, as CUDA's __float2half: ties, subnormals, overflow,
// and the integer conversion against the compiler's own over a sweep of all floats.
bool CheckHalves() {
  const struct { float in; uint16_t out; } ties[] = {
      {2049.0f, 0x6800},                  // 2048: a tie between 2048 and 2050, to even
      {2051.0f, 0x6802},                  // 2052
      {1.0f + 0x1p-11f, 0x3c00},          // 1
      {1.0f + 3 * 0x1p-11f, 0x3c02},      // 1 + 2^-9
      {-2049.0f, 0xe800},
      {65519.0f, 0x7bff}, {65520.0f, 0x7c00},  // the largest half, then Inf
      {0x1p-25f, 0x0000}, {3 * 0x1p-25f, 0x0002}, {0x1p-24f, 0x0001},  // subnormal ties
      {0.0f, 0x0000}, {-0.0f, 0x8000}};
  for (const auto &t : ties) {
    const dali::float16 h = dali_mixup::kernels::Store<dali::float16>(t.in);
    uint16_t bits;
    std::memcpy(&bits, &h, sizeof(bits));
    if (bits != t.out || dali_mixup::kernels::HalfBitsRounded(t.in) != t.out) {
      std::printf("float16 of %a: 0x%04x, expected 0x%04x\n", t.in, bits, t.out);
      return false;
    }
  }
  for (uint64_t x = 0; x < (uint64_t{1} << 32); x += 4099) {
    float f;
    const uint32_t u = static_cast<uint32_t>(x);
    std::memcpy(&f, &u, sizeof(f));
    const uint16_t a = dali_mixup::kernels::HalfBits(f), b = dali_mixup::kernels::HalfBitsRounded(f);
    const bool nan = f != f;
    if (nan ? ((a & 0x7c00) != 0x7c00 || (b & 0x7c00) != 0x7c00 || !(a & 0x3ff) || !(b & 0x3ff)) : a != b) {
      std::printf("float16 of %a: 0x%04x by the compiler, 0x%04x by integers\n", f, a, b);
      return false;
    }
  }
  return true;
}

int main() {
  if (!CheckHalves()) return 1;
  std::mt19937 rng(7);
  const int sizes[][2] = {{1, 1}, {1, 5}, {4, 1}, {2, 3}, {7, 5}, {16, 16}, {33, 17}};
  for (const auto &hw : sizes) {
    const int H = hw[0], W = hw[1];
    std::vector<Sample> samples;
    Sample copy;
    samples.push_back(copy);
    Sample blend;
    blend.weight = 0.3f;
    samples.push_back(blend);
    Sample half;
    half.weight = 0.5f;
    samples.push_back(half);
    // Boxes: whole image, top-left corner, bottom-right corner, inside, empty.
    const int boxes[][4] = {{0, 0, H, W}, {0, 0, (H + 1) / 2, (W + 1) / 2},
                            {H / 2, W / 2, H - H / 2, W - W / 2}, {H / 3, W / 3, H / 3, W / 3}, {0, 0, 0, 0}};
    for (const auto &b : boxes) {
      Sample cut;
      cut.cut = 1;
      for (int k = 0; k < 4; k++) cut.box[k] = b[k];
      samples.push_back(cut);
    }
    for (int C : {1, 3, 4}) {
      for (int layouts = 0; layouts < 4; layouts++) {
        Geometry g;
        g.H = H;
        g.W = W;
        g.C = C;
        g.in_chw = layouts & 1;
        g.out_chw = layouts & 2;
        for (const Sample &p : samples)
          for (bool normalize : {false, true})
            if (!CheckOutputs<uint8_t>(g, p, normalize, rng) || !CheckOutputs<dali::float16>(g, p, normalize, rng) ||
                !CheckOutputs<float>(g, p, normalize, rng))
              return 1;
      }
    }
  }
  std::printf("%d cases equal\n", cases);
  return 0;
}
