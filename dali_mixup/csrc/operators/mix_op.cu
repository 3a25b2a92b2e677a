// The stage's operators on the GPU: parameters and targets computed on the host by the same code
// as on the CPU (mix_op.h), uploaded with one copy, then one kernel writes the output images and
// one the per-sample parameters. Registered into the schemas of the CPU library, which must be
// loaded first.

#include <tuple>
#include <vector>

#include "dali/kernels/dynamic_scratchpad.h"
#include "../kernels/mix_gpu.cuh"
#include "mix_op.h"

namespace dali_mixup {

using dali::GPUBackend;

namespace {

// Writes every sample's output image in one launch; samples[i].partner indexes `images`.
void MixPixelsGpu(const ImageSpec &spec, const TensorList<GPUBackend> &images,
                  TensorList<GPUBackend> &out, const std::vector<kernels::Sample> &samples,
                  dali::kernels::DynamicScratchpad &scratch, cudaStream_t stream) {
  out.SetLayout(spec.out_layout());
  const int n = images.num_samples();
  if (n == 0) return;
  TypeSwitch(images.type(), spec.dtype(), [&](auto in_tag, auto out_tag) {
    using In = decltype(in_tag);
    using Out = decltype(out_tag);
    std::vector<kernels::ImageJob<In, Out>> jobs(n);
    for (int i = 0; i < n; i++)
      jobs[i] = {images.tensor<In>(i), images.tensor<In>(samples[i].partner),
                 out.mutable_tensor<Out>(i), samples[i]};
    const kernels::ImageJob<In, Out> *dev_jobs = nullptr;
    const float *scale = nullptr, *bias = nullptr;
    // Through pinned, stream-ordered staging (ToContiguousGPU), not a pageable copy.
    if (spec.scale().empty()) {
      std::tie(dev_jobs) = scratch.ToContiguousGPU(stream, jobs);
    } else {
      std::tie(dev_jobs, scale, bias) = scratch.ToContiguousGPU(stream, jobs, spec.scale(), spec.bias());
    }
    kernels::MixImagesGpu(dev_jobs, n, spec.geometry(), scale, bias, stream);
  });
  CUDA_CALL(cudaGetLastError());
}

}  // namespace

template <>
void Mix<GPUBackend>::RunImpl(dali::Workspace &ws) {
  const auto &images = ws.Input<GPUBackend>(0);
  const int n = images.num_samples();
  const std::vector<kernels::Sample> samples = Samples(ws);
  const std::vector<float> targets = recipe_.Targets(ws, samples);
  const cudaStream_t stream = ws.stream();
  dali::kernels::DynamicScratchpad scratch(stream);
  if (n > 0) {
    std::vector<kernels::ParamJob> jobs(n);
    for (int i = 0; i < n; i++)
      jobs[i] = {ws.Output<GPUBackend>(1).mutable_tensor<float>(i),
                 ws.Output<GPUBackend>(2).mutable_tensor<float>(i),
                 ws.Output<GPUBackend>(3).mutable_tensor<int32_t>(i),
                 ws.Output<GPUBackend>(4).mutable_tensor<int32_t>(i),
                 ws.Output<GPUBackend>(5).mutable_tensor<int32_t>(i)};
    auto [dev_jobs, dev_samples, dev_targets] = scratch.ToContiguousGPU(stream, jobs, samples, targets);
    kernels::WriteParamsGpu(dev_jobs, dev_samples, dev_targets, n, recipe_.num_classes(), stream);
    CUDA_CALL(cudaGetLastError());
  }
  MixPixelsGpu(images_, images, ws.Output<GPUBackend>(0), samples, scratch, stream);
}

template <>
void Normalize<GPUBackend>::RunImpl(dali::Workspace &ws) {
  const auto &images = ws.Input<GPUBackend>(0);
  dali::kernels::DynamicScratchpad scratch(ws.stream());
  MixPixelsGpu(images_, images, ws.Output<GPUBackend>(0), Unmixed(images.num_samples()), scratch,
               ws.stream());
}

}  // namespace dali_mixup

namespace dali {

DALI_REGISTER_OPERATOR(DaliMixupMix, ::dali_mixup::Mix<GPUBackend>, GPU);
DALI_REGISTER_OPERATOR(DaliMixupNormalize, ::dali_mixup::Normalize<GPUBackend>, GPU);

}  // namespace dali
