// DaliMixupErase on the CPU: each image copied and its boxes filled in one task of DALI's
// thread pool; and the operator's schema (the GPU library registers only its backend).

#include <algorithm>
#include <cstring>
#include <vector>

#include "dali/pipeline/util/thread_pool.h"
#include "erase_op.h"

namespace dali_mixup {

namespace {

// Elements (c, dy, 0 .. width - 1) of box b: values[dx] stored as T.
template <typename T>
void StoreRow(T *image, const kernels::EraseGeometry &g, const kernels::EraseBox &b, int c, int dy,
              const float *values) {
  T *row = image + c * g.c_stride + (b.top + dy) * g.y_stride + b.left * g.x_stride;
  for (int dx = 0; dx < b.width; dx++) row[dx * g.x_stride] = StoreAs<T>{}(values[dx]);
}

// Copies one image and fills its boxes, in order: a box row's values (its color, or its
// noise, made for the whole row at once so that it vectorizes) in a buffer, then stored.
template <typename T>
void EraseImage(const T *in, T *out, int64_t elements, const ErasePlan &plan, int mode) {
  std::memcpy(out, in, elements * sizeof(T));
  const kernels::EraseGeometry &g = plan.geometry;
  std::vector<float> values;
  for (const PlacedBox &placed : plan.boxes) {
    const kernels::EraseBox &b = placed.box;
    const int groups = kernels::RowGroups(b.width);
    values.resize(4 * groups);  // the noise of whole groups, past the box's last element
    for (int c = 0; c < g.channels; c++) {
      if (mode != kernels::kErasePixel) {
        // One color per channel and box, the same for every row.
        const float color = mode == kernels::kEraseRand ? kernels::BoxColor(plan.key, placed.slot, c) : 0.0f;
        std::fill(values.begin(), values.end(), color);
      }
      for (int dy = 0; dy < b.height; dy++) {
        if (mode == kernels::kErasePixel) kernels::PixelNoiseRow(plan.key, placed.slot, c, dy, groups, values.data());
        StoreRow(out, g, b, c, dy, values.data());
      }
    }
  }
}

}  // namespace

template <>
void Erase<CPUBackend>::RunImpl(dali::Workspace &ws) {
  const auto &images = ws.Input<CPUBackend>(0);
  auto &out = ws.Output<CPUBackend>(0);
  out.SetLayout(layout_used_);
  auto &pool = ws.GetThreadPool();
  const bool half = images.type() == DALIDataType::DALI_FLOAT16;
  for (int i = 0; i < images.num_samples(); i++) {
    const int64_t elements = images.tensor_shape(i).num_elements();
    // Larger images first: the pool runs the highest priority first, which balances its threads.
    pool.AddWork(
        [&, i, elements, half](int) {
          if (half)
            EraseImage(images.tensor<dali::float16>(i), out.mutable_tensor<dali::float16>(i), elements, plans_[i],
                       mode_);
          else
            EraseImage(images.tensor<float>(i), out.mutable_tensor<float>(i), elements, plans_[i], mode_);
        },
        elements);
  }
  pool.RunAll();
}

}  // namespace dali_mixup

namespace dali {

DALI_REGISTER_OPERATOR(DaliMixupErase, ::dali_mixup::Erase<CPUBackend>, CPU);

DALI_SCHEMA(DaliMixupErase)
    .DocStr("timm's RandomErasing on float32/float16 HWC or CHW images (see dali_mixup.erasing).")
    .NumInput(4)
    .InputDevice(1, 4, InputDevice::CPU)
    .NumOutput(1)
    .MakeStateless()
    .AddOptionalArg("layout", "HWC or CHW; empty: the images' own.", std::string())
    .AddOptionalArg("mode", "0 const (zeros), 1 rand (a normal value per channel and box), 2 pixel (per element).",
                    0)
    .AddOptionalArg("min_area", "Smallest box area as a fraction of the image; decimal text, read as a double.",
                    std::string("0.02"))
    .AddOptionalArg("max_area", "Largest box area as a fraction of the image; decimal text, read as a double.",
                    std::string("0.3333333333333333"))
    .AddOptionalArg("min_aspect", "Smallest height / width; decimal text, read as a double.", std::string("0.3"))
    .AddOptionalArg("max_aspect", "Largest height / width; decimal text, read as a double.",
                    std::string("3.3333333333333335"));

}  // namespace dali
