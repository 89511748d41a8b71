// Torch helpers shared by the decoder and encoder engines (see torch-util-impl.h).
#include "model/torch-util-impl.h"

#include <cmath>
#include <limits>
#include <thread>

#include "util/error.h"

namespace ecpo::model {

torch::ScalarType torch_dtype_from_safetensors(const std::string& dtype) {
  if (dtype == "F32") return torch::kFloat;
  if (dtype == "F16") return torch::kHalf;
  if (dtype == "BF16") return torch::kBFloat16;
  if (dtype == "F64") return torch::kDouble;
  if (dtype == "I64") return torch::kLong;
  if (dtype == "I32") return torch::kInt;
  if (dtype == "I16") return torch::kShort;
  if (dtype == "I8") return torch::kChar;
  if (dtype == "U8") return torch::kByte;
  if (dtype == "BOOL") return torch::kBool;
  throw Error("safetensors dtype '" + dtype + "' has no torch equivalent", "safetensors");
}

std::string safetensors_dtype_from_torch(torch::ScalarType t) {
  switch (t) {
    case torch::kFloat: return "F32";
    case torch::kHalf: return "F16";
    case torch::kBFloat16: return "BF16";
    case torch::kDouble: return "F64";
    case torch::kLong: return "I64";
    case torch::kInt: return "I32";
    case torch::kShort: return "I16";
    case torch::kChar: return "I8";
    case torch::kByte: return "U8";
    case torch::kBool: return "BOOL";
    default: throw Error(std::string("torch dtype ") + c10::toString(t) + " cannot be stored in safetensors", "safetensors");
  }
}

torch::ScalarType torch_dtype_from_name(const std::string& name) {
  if (name == "float32" || name == "fp32" || name == "f32" || name == "float") return torch::kFloat;
  if (name == "bfloat16" || name == "bf16") return torch::kBFloat16;
  if (name == "float16" || name == "fp16" || name == "f16" || name == "half") return torch::kHalf;
  throw Error("unknown dtype '" + name + "'", "", "use float32, bfloat16 or float16");
}

torch::Tensor tensor_from_view(const TensorView& view, std::optional<torch::ScalarType> to) {
  auto st = torch_dtype_from_safetensors(view.info->dtype);
  std::vector<int64_t> shape(view.info->shape.begin(), view.info->shape.end());
  // from_blob does not take ownership and needs a mutable pointer; we only read it, then clone.
  torch::Tensor t = torch::from_blob(const_cast<std::uint8_t*>(view.data), shape, torch::TensorOptions().dtype(st));
  if (to && *to != st) return t.to(*to);  // .to() copies
  return t.clone();
}

std::map<std::string, torch::Tensor> load_safetensors(const std::filesystem::path& dir_or_file,
                                                      std::optional<torch::ScalarType> to) {
  WeightStore ws = WeightStore::open(dir_or_file);
  std::map<std::string, torch::Tensor> out;
  for (const auto& name : ws.names()) out[name] = tensor_from_view(ws.get(name), to);
  return out;
}

void save_safetensors(const std::filesystem::path& path, const std::map<std::string, torch::Tensor>& tensors,
                      const std::map<std::string, std::string>& metadata) {
  std::vector<TensorData> data;
  for (const auto& [name, t0] : tensors) {
    torch::Tensor t = t0.detach().to(torch::kCPU).contiguous();
    TensorData d;
    d.name = name;
    d.dtype = safetensors_dtype_from_torch(t.scalar_type());
    d.shape.assign(t.sizes().begin(), t.sizes().end());
    d.bytes.assign(static_cast<const char*>(t.data_ptr()), t.numel() * t.element_size());
    data.push_back(std::move(d));
  }
  safetensors_write(path, std::move(data), metadata);
}

int set_threads(int n) {
  if (n <= 0) n = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  at::set_num_threads(n);
  return n;
}

torch::Tensor rms_norm(const torch::Tensor& x, const torch::Tensor& weight, double eps) {
  torch::Tensor h = x.to(torch::kFloat);
  h = h * torch::rsqrt(h.pow(2).mean(-1, /*keepdim=*/true) + eps);
  return weight * h.to(x.scalar_type());
}

torch::Tensor repeat_kv(const torch::Tensor& x, std::int64_t n_rep) {
  if (n_rep == 1) return x;
  auto b = x.size(0), hkv = x.size(1), s = x.size(2), d = x.size(3);
  return x.unsqueeze(2).expand({b, hkv, n_rep, s, d}).reshape({b, hkv * n_rep, s, d});
}

torch::Tensor attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                        const torch::Tensor& mask) {
  const std::int64_t h = q.size(1), hkv = k.size(1);
  if (h % hkv != 0) throw Error("attention: query heads not a multiple of kv heads", "model");
  torch::Tensor kk = repeat_kv(k, h / hkv), vv = repeat_kv(v, h / hkv);
  const double scale = 1.0 / std::sqrt(static_cast<double>(q.size(3)));
  torch::Tensor scores = torch::matmul(q, kk.transpose(2, 3)).to(torch::kFloat) * scale;  // [B, H, T, S]
  if (mask.defined()) scores = scores + mask;
  torch::Tensor p = torch::softmax(scores, -1).to(q.scalar_type());
  return torch::matmul(p, vv);  // [B, H, T, D]
}

torch::Tensor causal_mask(std::int64_t t, std::int64_t s, torch::ScalarType dtype) {
  // query i (absolute position s - t + i) may see keys j <= s - t + i.
  auto ninf = -std::numeric_limits<float>::infinity();
  torch::Tensor m = torch::full({t, s}, ninf, torch::TensorOptions().dtype(torch::kFloat));
  m = torch::triu(m, /*diagonal=*/s - t + 1);
  return m.view({1, 1, t, s}).to(dtype);
}

}  // namespace ecpo::model
