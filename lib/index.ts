export { Tensor, type RandomOptions, type Device } from './tensor.js';
export {
  SparseMatrix, FORMATS, FORMAT_PARTS, QUANT_FORMATS, partsOf, type Format, type FromDenseOptions, type FromPartsOptions,
} from './sparse-matrix.js';
export {
  QUANT_DTYPES, QUANT_GROUP_SIZES, type QuantDType, type QuantInfo, type QuantGrid, type QuantizeOptions,
} from './quant.js';
export { spmm, linear, selectedKernel, type MatmulOptions, type Activations, ACTIVATIONS, type Weight, type SpmmFn, type LinearFn } from './ops.js';
export {
  devices, gpuStatus, deviceMemory, DeviceTensor, DeviceSparseMatrix, type DeviceInfo, type DeviceSlorbInfo, type DeviceList, type GpuStatus,
  type GpuBackend,
} from './cuda.js';
export {
  chooseGpuFormat, predictGpuSeconds, gpuFormatBytes, H100_MODEL, GPU_AUTO_WINDOWS, type GpuModel, type GpuFormat,
  type GpuFormatChoice, gpuInt4Bytes, predictGpuInt4Seconds, type GpuInt4Weight, gpuSlorbBytes, predictGpuSlorbSeconds,
  type GpuSlorbTerm, type GpuWeightStats,
} from './gpu-cost-model.js';
export { setNumThreads, getNumThreads, cpuInfo, setIsa, type Isa, type CpuInfo } from './runtime.js';
export { DTYPES, FLOAT_DTYPES, type DType, type FloatDType, type TypedArray } from './dtype.js';
export {
  SparsekitError, ShapeError, DTypeError, FormatError, DeviceError, NumericError, DisposedError, ArgumentError,
  AbortError, MemoryError, InternalError, IOError, NativeError, type ErrorCode,
} from './errors.js';
export {
  chooseFormat, predictSeconds, formatBytes, weightStats, machineModel, AVX512_MACHINE, AVX2_MACHINE, AVX2_ZEN2_MACHINE, PORTABLE_MACHINE, type MachineModel, type CpuFormat, type WeightStats, type FormatChoice } from './cost-model.js';
export {
  loadSafetensors, saveSafetensors, SafetensorsFile, SafetensorsWriter, type EntryInfo, type TensorEntryInfo,
  type SparseEntryInfo, type RawTensor, type SaveValue, type WriterOptions, type LoadSafetensorsFn, type SaveSafetensorsFn,
} from './safetensors.js';
export { CalibrationStats, type CalibrationOptions } from './calibration.js';
export {
  prune, type PrunePattern, type PruneResult, type PruneReport, type MagnitudeOptions, type WandaOptions, type SparseGptOptions,
} from './prune.js';
export { type RiaOptions, type DsnotOptions, type AlpsOptions, type BeyondResult } from './prune-beyond.js';
export { type SolverControl } from './solver-control.js';
export {
  decayLambda, maskedDecay, refreshMask, maskFlipRate, loraPruneImportance, sumImportance, AST_LAMBDA_MAX,
  type DecayScheduleOptions, type MaskPattern, type RefreshMaskOptions, type LoraTensors, type ImportanceAggregate, type ImportanceResult,
} from './training.js';
export { mergeLowRank, type MergeLowRankOptions } from './lowrank-merge.js';
export { slorb, type SlorbTerm, type SlorbInit, type SlorbInitOptions } from './slorb.js';
export { LlamaModel, type KvCache, type ForwardOptions, type PerplexityOptions, type SaveOptions } from './model/llama.js';
export { parseConfig, ropeInvFreq, type LlamaConfig, type RopeScaling } from './model/config.js';
export { LINEARS, INPUT_GROUPS, blockForward, type LinearName, type InputGroup, type LlamaBlock, type LinearSlot, type InputHook, type BlockContext } from './model/block.js';
export {
  type ModelPruneOptions, type ModelPruneProgress, type ModelPruneReport, type LinearPruneReport, type LinearSolver, type SolverContext,
  type CalibrationMode, type BuiltinMethod, permuteMlpChannels,
} from './model/prune-model.js';
export {
  SCORE_METHODS, type ScoreMethod, type StructureScores, type StructureScoreOptions, type BlockScores, type DependencyGroups, type BlockGroups,
  type UnitGroup, type GroupMember,
} from './model/structure.js';
export {
  planStructuredPrune, planFromMasks, saveStructureMasks, planSummary, PlanError, MASK_NAMES, type StructuredPlan, type BlockPlan, type PlanOptions,
} from './model/structured-plan.js';
export type { ShrinkOptions, ShrinkReport } from './model/shrink.js';
export type { SliceOptions, SliceReport } from './model/slice.js';
export type { BlockShape } from './model/config.js';
export { owlSparsities, type OwlOptions } from './model/owl.js';
export { OWL_SEARCH_DEFAULT, type OwlSearchGrid, type OwlSearchEntry } from './model/owl-search.js';
