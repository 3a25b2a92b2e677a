// The stage's pixel pass on the GPU: one CUDA pass over the batch, each output element written
// once (a copy, a blend, or the partner's pixel inside the CutMix box), normalized and
// transposed on the way, with blend.h's per-element math, the same as the CPU loops'.
// Plain pointers, shapes and parameters; launched on the caller's stream.
#ifndef DALI_MIXUP_KERNELS_MIX_GPU_CUH_
#define DALI_MIXUP_KERNELS_MIX_GPU_CUH_

#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>

#include "blend.h"
#include "mix_params.h"

namespace dali_mixup {
namespace kernels {

// One output image: its own pixels, its partner's, where to write, and how to mix them.
template <typename In, typename Out>
struct ImageJob {
  const In *own;
  const In *other;
  Out *out;
  Sample p;
};

// Where the per-sample parameters of a mixed batch go: one pointer per output tensor.
struct ParamJob {
  float *targets;
  float *lam;
  int32_t *partner;
  int32_t *cut;
  int32_t *box;
};

namespace gpu {

// blockIdx.y: the sample; each thread one pixel (all its channels) at a time, blend.h's
// MixPixel. Index: 32-bit where the image allows (64-bit division is slow).
template <typename Index, typename In, typename Out>
__global__ void MixImages(const ImageJob<In, Out> *jobs, Geometry g, const float *scale,
                          const float *bias) {
  const ImageJob<In, Out> job = jobs[blockIdx.y];
  const Index pixels = static_cast<Index>(g.H) * static_cast<Index>(g.W);
  for (Index k = static_cast<Index>(blockIdx.x) * blockDim.x + threadIdx.x; k < pixels;
       k += static_cast<Index>(gridDim.x) * blockDim.x)
    MixPixel<Index>(job.own, job.other, job.out, job.p, g, scale, bias, k);
}

// blockIdx.x: the sample; targets: n rows of `classes` values.
static __global__ void WriteParams(const ParamJob *jobs, const Sample *samples, const float *targets,
                            int classes) {
  const int i = blockIdx.x;
  const ParamJob job = jobs[i];
  for (int k = threadIdx.x; k < classes; k += blockDim.x)
    job.targets[k] = targets[static_cast<int64_t>(i) * classes + k];
  if (threadIdx.x == 0) {
    *job.lam = samples[i].lam;
    *job.partner = samples[i].partner;
    *job.cut = samples[i].cut;
    for (int k = 0; k < 4; k++) job.box[k] = samples[i].box[k];
  }
}

}  // namespace gpu

// Mixes n images of geometry g (device pointers in `jobs`, on the device).
template <typename In, typename Out>
void MixImagesGpu(const ImageJob<In, Out> *jobs, int n, const Geometry &g, const float *scale,
                  const float *bias, cudaStream_t stream) {
  if (n == 0) return;
  constexpr int kThreads = 256;
  const int64_t pixels = g.H * g.W;
  // Enough blocks per image to cover it once, capped: larger images loop inside the kernel.
  const int blocks = static_cast<int>(std::min<int64_t>((pixels + kThreads - 1) / kThreads, 1024));
  // The loop's last index plus one step stays below the 32-bit limit too.
  if (pixels * g.C + static_cast<int64_t>(blocks) * kThreads < (int64_t{1} << 31))
    gpu::MixImages<uint32_t, In, Out><<<dim3(blocks, n), kThreads, 0, stream>>>(jobs, g, scale, bias);
  else
    gpu::MixImages<int64_t, In, Out><<<dim3(blocks, n), kThreads, 0, stream>>>(jobs, g, scale, bias);
}

inline void WriteParamsGpu(const ParamJob *jobs, const Sample *samples, const float *targets, int n,
                           int classes, cudaStream_t stream) {
  if (n == 0) return;
  gpu::WriteParams<<<n, 128, 0, stream>>>(jobs, samples, targets, classes);
}

}  // namespace kernels
}  // namespace dali_mixup

#endif  // DALI_MIXUP_KERNELS_MIX_GPU_CUH_
