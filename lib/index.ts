export { Tensor, type RandomOptions, type Device } from './tensor.js';
export { SparseMatrix, FORMATS, FORMAT_PARTS, type Format, type FromDenseOptions, type FromPartsOptions } from './sparse-matrix.js';
export { spmm, linear, selectedKernel, type MatmulOptions, type Weight, type SpmmFn, type LinearFn } from './ops.js';
export {
  devices, gpuStatus, deviceMemory, DeviceTensor, DeviceSparseMatrix, type DeviceInfo, type DeviceList, type GpuStatus,
  type GpuBackend,
} from './cuda.js';
export {
  chooseGpuFormat, predictGpuSeconds, gpuFormatBytes, H100_MODEL, GPU_AUTO_WINDOWS, type GpuModel, type GpuFormat,
  type GpuFormatChoice,
} from './gpu-cost-model.js';
export { setNumThreads, getNumThreads, cpuInfo, setIsa, type Isa, type CpuInfo } from './runtime.js';
export { DTYPES, FLOAT_DTYPES, type DType, type FloatDType, type TypedArray } from './dtype.js';
export {
  SparsekitError, ShapeError, DTypeError, FormatError, DeviceError, NumericError, DisposedError, ArgumentError,
  AbortError, MemoryError, InternalError, IOError, NativeError, type ErrorCode,
} from './errors.js';
export {
  chooseFormat, predictSeconds, formatBytes, weightStats, machineModel, AVX512_MACHINE, AVX2_MACHINE, PORTABLE_MACHINE, type MachineModel, type CpuFormat, type WeightStats, type FormatChoice } from './cost-model.js';
export {
  loadSafetensors, saveSafetensors, SafetensorsFile, SafetensorsWriter, type EntryInfo, type TensorEntryInfo,
  type SparseEntryInfo, type RawTensor, type SaveValue, type WriterOptions, type LoadSafetensorsFn, type SaveSafetensorsFn,
} from './safetensors.js';
export { CalibrationStats, type CalibrationOptions } from './calibration.js';
export {
  prune, type PrunePattern, type PruneResult, type PruneReport, type MagnitudeOptions, type WandaOptions, type SparseGptOptions,
} from './prune.js';
