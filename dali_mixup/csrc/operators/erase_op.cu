// DaliMixupErase on the GPU: the boxes chosen on the host by the same code as on the CPU
// (erase_op.h); each image copied on the stream, then one launch per box rank (the first box
// of every image, then the second, ...), so that where an image's boxes overlap the later one
// is written last, as in timm. Registered into the schema of the CPU library, which must be
// loaded first.

#include <algorithm>
#include <vector>

#include "dali/kernels/dynamic_scratchpad.h"
#include "erase_op.h"

namespace dali_mixup {

using dali::GPUBackend;

namespace {

// One box of one image.
template <typename T>
struct BoxJob {
  T *image;
  kernels::EraseGeometry geometry;
  kernels::EraseBox box;
  int slot;
  uint32_t key;
};

// blockIdx.y: the box; each thread fills groups of up to 4 elements of a box row.
template <typename T>
__global__ void FillBoxes(const BoxJob<T> *jobs, int mode) {
  const BoxJob<T> job = jobs[blockIdx.y];
  const int groups = kernels::RowGroups(job.box.width);
  const int64_t total = static_cast<int64_t>(job.geometry.channels) * job.box.height * groups;
  for (int64_t k = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; k < total;
       k += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int group = static_cast<int>(k % groups);
    const int64_t row = k / groups;
    const int dy = static_cast<int>(row % job.box.height), c = static_cast<int>(row / job.box.height);
    const float color = mode == kernels::kEraseRand ? kernels::BoxColor(job.key, job.slot, c) : 0.0f;
    kernels::FillGroup(job.image, job.geometry, job.box, job.slot, mode, job.key, color, c, dy, group,
                       StoreAs<T>{});
  }
}

// The rank-th box of every image that has one.
template <typename T>
std::vector<BoxJob<T>> Rank(const std::vector<ErasePlan> &plans, TensorList<GPUBackend> &out, size_t rank) {
  std::vector<BoxJob<T>> jobs;
  for (int i = 0; i < static_cast<int>(plans.size()); i++) {
    const ErasePlan &plan = plans[i];
    if (rank < plan.boxes.size())
      jobs.push_back({out.mutable_tensor<T>(i), plan.geometry, plan.boxes[rank].box, plan.boxes[rank].slot, plan.key});
  }
  return jobs;
}

template <typename T>
void FillAll(const std::vector<ErasePlan> &plans, TensorList<GPUBackend> &out, int mode, cudaStream_t stream) {
  dali::kernels::DynamicScratchpad scratch(stream);
  for (size_t rank = 0;; rank++) {
    const std::vector<BoxJob<T>> jobs = Rank<T>(plans, out, rank);
    if (jobs.empty()) return;
    int64_t most = 0;
    for (const auto &job : jobs)
      most = std::max<int64_t>(most, static_cast<int64_t>(job.geometry.channels) * job.box.height *
                                         kernels::RowGroups(job.box.width));
    constexpr int kThreads = 256;
    // Enough blocks to cover the largest box once, capped: larger boxes loop inside the kernel.
    const int blocks = static_cast<int>(std::min<int64_t>((most + kThreads - 1) / kThreads, 1024));
    auto [dev_jobs] = scratch.ToContiguousGPU(stream, jobs);
    FillBoxes<T><<<dim3(blocks, static_cast<unsigned>(jobs.size())), kThreads, 0, stream>>>(dev_jobs, mode);
    CUDA_CALL(cudaGetLastError());
  }
}

}  // namespace

template <>
void Erase<GPUBackend>::RunImpl(dali::Workspace &ws) {
  const auto &images = ws.Input<GPUBackend>(0);
  auto &out = ws.Output<GPUBackend>(0);
  out.SetLayout(layout_used_);
  const cudaStream_t stream = ws.stream();
  const size_t element = images.type() == DALIDataType::DALI_FLOAT16 ? 2 : 4;
  for (int i = 0; i < images.num_samples(); i++)
    CUDA_CALL(cudaMemcpyAsync(out.raw_mutable_tensor(i), images.raw_tensor(i),
                              images.tensor_shape(i).num_elements() * element, cudaMemcpyDeviceToDevice, stream));
  if (images.type() == DALIDataType::DALI_FLOAT16)
    FillAll<dali::float16>(plans_, out, mode_, stream);
  else
    FillAll<float>(plans_, out, mode_, stream);
}

}  // namespace dali_mixup

namespace dali {

DALI_REGISTER_OPERATOR(DaliMixupErase, ::dali_mixup::Erase<GPUBackend>, GPU);

}  // namespace dali
