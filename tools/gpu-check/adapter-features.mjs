// The GPU check's `adapter-features` step: what the lent GPU's WebGPU adapter offers beyond what the
// product asks for, printed as one JSON line, so that a session without a GPU can plan for it: its
// features (shader-f16, subgroups), its subgroup sizes, and, with Dawn's allow_unsafe_apis toggle,
// the experimental subgroup matrices (chromium-experimental-subgroup-matrix: tensor cores through
// VK_KHR_cooperative_matrix) and their shapes. Run from the app directory (its node_modules/webgpu):
//   node adapter-features.mjs
// Creates no device. Exits 1 when no adapter opens.
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';

const url = pathToFileURL(createRequire(`${process.cwd()}/`).resolve('webgpu')).href;
const { create, globals } = await import(url);
Object.assign(globalThis, globals);

async function describe(flags) {
  const adapter = await create(flags).requestAdapter({ powerPreference: 'high-performance' });
  if (adapter === null) return null;
  const i = adapter.info;
  return {
    flags,
    description: i.description,
    vendor: i.vendor,
    architecture: i.architecture,
    features: [...adapter.features].sort(),
    subgroup_min_size: i.subgroupMinSize ?? null,
    subgroup_max_size: i.subgroupMaxSize ?? null,
    subgroup_matrix_configs: i.subgroupMatrixConfigs ?? null,
    limits: Object.fromEntries(['maxComputeWorkgroupStorageSize', 'maxComputeInvocationsPerWorkgroup', 'maxStorageBuffersPerShaderStage'].map((k) => [k, adapter.limits[k]])),
  };
}

const plain = await describe([]);
const unsafe = await describe(['enable-dawn-features=allow_unsafe_apis']);
console.log(JSON.stringify({ step: 'adapter-features', plain, unsafe }));
process.exit(plain === null ? 1 : 0);
