// BlindSight on the device: the copies of heads.json and the tile lists the
// attention kernel walks (prefill --heads), and the token roles and mass
// buffer of a calibration prefill on the engine (calibrate --engine=device).
#pragma once

#include <algorithm>
#include <vector>

#include "vlm/blindsight.h"
#include "vlm/engine.cuh"

namespace vlm {

static_assert(kMassClasses == kKeyClasses, "the mass kernel and blindsight.h agree on the key classes");

// Categories (layers x heads) and a prompt's tile lists in device memory.
struct device_blindsight {
  device_array<unsigned char> cats;
  device_array<int> ptr, cols;
  device_blindsight(const std::vector<head_category>& c, const tile_lists& t)
      : cats(std::max<std::size_t>(c.size(), 1)), ptr(t.ptr.size()), cols(std::max<std::size_t>(t.cols.size(), 1))
  {
    std::vector<unsigned char> raw;
    for (head_category h : c) raw.push_back((unsigned char)h);
    cats.upload(raw);
    ptr.upload(std::vector<int>(t.ptr.begin(), t.ptr.end()));
    cols.upload(std::vector<int>(t.cols.begin(), t.cols.end()));
  }
  void attach(prefill_options& o) const { o.head_cat = cats.p, o.tile_ptr = ptr.p, o.tile_cols = cols.p; }
};

// A calibration prefill's inputs and output on the device.
struct device_calibration {
  int layers, heads;
  std::int64_t nT;
  device_array<unsigned char> role;
  device_array<int> image;
  device_array<float> mass;  // layers x heads x nT x (kMassClasses + 1)
  device_calibration(const token_roles& r, int layers_, int heads_)
      : layers(layers_), heads(heads_), nT((r.size() + 31) / 32), role(std::size_t(r.size())), image(std::size_t(r.size())),
        mass(std::size_t(layers_) * std::size_t(heads_) * std::size_t(nT) * (kMassClasses + 1))
  {
    std::vector<unsigned char> raw;
    for (token_role x : r.role) raw.push_back((unsigned char)x);
    role.upload(raw);
    image.upload(std::vector<int>(r.image.begin(), r.image.end()));
  }
  void attach(prefill_options& o) const { o.roles = role.p, o.role_image = image.p, o.mass_out = mass.p; }
  // The masses per layer and head, summed over the query tiles.
  std::vector<head_mass> masses() const
  {
    const std::vector<float> raw = mass.download();
    std::vector<head_mass> out(std::size_t(layers) * std::size_t(heads));
    for (std::size_t lh = 0; lh < out.size(); ++lh)
      for (std::int64_t t = 0; t < nT; ++t) {
        const float* p = &raw[(lh * std::size_t(nT) + std::size_t(t)) * (kMassClasses + 1)];
        for (int c = 0; c < kMassClasses; ++c) out[lh].mass[c] += double(p[c]);
        out[lh].queries += double(p[kMassClasses]);
      }
    return out;
  }
};

}  // namespace vlm
