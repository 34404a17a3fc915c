// The packed sparse formats as plain data: a non-owning view for kernels, an owning result for
// packers, and the pack / unpack / validate entry points. docs/formats.md specifies every byte.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "../core/dtype.h"
#include "../core/status.h"
#include "layout.h"

namespace sk {

enum class Format { dense = 0, csr = 1, bitmap = 2, nm = 3, tiled_csl = 4 };
const char* format_name(Format f);  // "dense", "csr", "bitmap", "nm", "tiled-csl"
bool format_from_name(const char* name, Format* out);

// Components by name. All index-like components are int32 arrays (masks and words hold raw bits).
// scales / zeros exist only in quantized matrices (quant.h).
enum class Part { values = 0, row_ptr, col_idx, masks, words, tile_offsets, scales, zeros, kNumParts };
const char* part_name(Part p);  // "values", "rowPtr", "colIdx", "masks", "words", "tileOffsets", "scales", "zeros"
bool part_from_name(const char* name, Part* out);
// Which parts a format has, and the element type of each (float parts; quant.h for quantized ones).
bool format_has_part(Format f, Part p);
DType part_dtype(Part p, DType value_dtype);

// Quantized values (docs/formats.md "Quantized values"): bits 0 = plain float values; 4 or 8 =
// unsigned codes with one fp16 scale (and, asymmetric, one uint8 zero point) per `group` columns.
struct QuantSpec {
  int bits = 0;
  int group = 0;
  bool asym = false;
  bool on() const { return bits != 0; }
};

struct ConstBuffer {
  const void* data = nullptr;
  size_t bytes = 0;
};

struct MatrixView {
  Format format = Format::dense;
  DType dtype = DType::f32;
  int64_t rows = 0, cols = 0;
  int n = 0, m = 0;  // nm only
  QuantSpec quant;   // quant.on(): dtype is u8 and `values` holds codes
  ConstBuffer parts[int(Part::kNumParts)];
  // Kernel data derived from the parts, not a part (quant.h, derive_quant_aux): empty in views that
  // did not come from a PackedMatrix, and kernels that read it are selected only where it is there.
  ConstBuffer aux;

  const ConstBuffer& part(Part p) const { return parts[int(p)]; }
  template <class T> const T* as(Part p) const { return static_cast<const T*>(parts[int(p)].data); }
};

struct PackedMatrix {
  Format format = Format::dense;
  DType dtype = DType::f32;
  int64_t rows = 0, cols = 0;
  int n = 0, m = 0;
  QuantSpec quant;
  std::vector<uint8_t> parts[int(Part::kNumParts)];
  // Derived from the parts by derive_quant_aux (quant.h) wherever a PackedMatrix is made (pack,
  // copy_validated); never saved, copied out or counted in the matrix's byteLength.
  std::vector<uint8_t> aux;

  MatrixView view() const;
};

struct PackOptions {
  Format format = Format::dense;
  int n = 0, m = 0;                 // nm only
  const uint8_t* mask = nullptr;    // rows*cols bytes, nonzero = keep; null = keep the nonzeros
  bool prune_magnitude = false;     // nm: keep the n largest |w| per group instead of refusing
  QuantSpec quant;                  // on(): quantize the kept values (dense, bitmap, nm)
  const uint16_t* scales = nullptr; // with quant: the fp16 grid to round to (rows * cols / group)
  const uint8_t* zeros = nullptr;   // with quant.asym and scales: the zero points
};

Status check_shape_and_type(Format f, DType dtype, int64_t rows, int64_t cols, int n, int m);

Status pack(const void* dense, DType dtype, int64_t rows, int64_t cols, const PackOptions& opt, PackedMatrix* out);
// Writes rows*cols elements of the view's dtype, bit-exact with what was packed; quantized
// matrices write float32, dequantized exactly (unpacked_dtype()).
Status unpack(const MatrixView& a, void* dense_out);
inline DType unpacked_dtype(const MatrixView& a) { return a.quant.on() ? DType::f32 : a.dtype; }
// Full structural check of untrusted data (O(stored elements)); kernels assume it passed.
Status validate(const MatrixView& a);
// Copies the view's parts into `out` and validates the copy (not the source), so bytes the source
// changes after this call can never reach code that trusts `out`. The owner of parts that came
// from outside (the binding's SparseMatrix storage, the CUDA upload) keeps only such copies.
Status copy_validated(const MatrixView& src, PackedMatrix* out);
// The O(rows) subset of validate that kernels run on every call: part sizes agree with the shape
// and with the stored counts, so no kernel can read past a buffer.
Status check_part_sizes(const MatrixView& a);
// Number of value slots the format stores (explicit zeros and padding included).
int64_t stored_count(const MatrixView& a);

// Calls f(row, col, const void* element) for every stored element of rows [r0, r1). For
// tiled-csl the range must start on a tile row; padding words are visited once per real word.
template <class F> void for_each_stored(const MatrixView& a, int64_t r0, int64_t r1, F&& f);

}  // namespace sk

#include "visit.inl"
