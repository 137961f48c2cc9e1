// Exact wasm heap growth, for memory probes only. Emscripten grows the heap by up to 20% (or
// 96 MiB) more than an allocation needs, so the heap size says the footprint only to within that
// slack. Installed before the wasm backend is instantiated, this makes every growth step exactly
// what the allocator asked for, so the heap size after a step is its true high-water mark (to 64
// KiB). It wraps WebAssembly.instantiate (to see the heap-resize import) and Memory.grow (to
// shrink the growth to the request); nothing else changes. Used in the probe child process, never
// in a worker that trains (growing in small steps costs time).

const PAGE = 65_536;
let installed = false;

type Imports = { env?: Record<string, unknown> } & Record<string, unknown>;
interface MemoryLike {
  readonly buffer: ArrayBuffer;
}
// The project compiles without the DOM lib, which is where TypeScript declares WebAssembly.
const WA = (globalThis as unknown as {
  WebAssembly: {
    Memory: { prototype: { grow(this: MemoryLike, pages: number): number } };
    instantiate: (bytes: unknown, imports?: Imports) => Promise<unknown>;
  };
}).WebAssembly;

export function installExactHeapGrowth(): void {
  if (installed) return;
  installed = true;
  let target: number | null = null;
  const grow = WA.Memory.prototype.grow;
  WA.Memory.prototype.grow = function (this: MemoryLike, pages: number): number {
    if (target === null) return grow.call(this, pages);
    const exact = Math.max(0, Math.ceil((target - this.buffer.byteLength) / PAGE));
    return grow.call(this, Math.min(pages, exact));
  };
  const instantiate = WA.instantiate;
  WA.instantiate = function (bytes: unknown, imports?: Imports) {
    const resize = imports?.env?.['emscripten_resize_heap'];
    if (typeof resize === 'function') {
      imports!.env!['emscripten_resize_heap'] = (requested: number) => {
        target = requested >>> 0;
        try {
          return (resize as (n: number) => unknown)(requested);
        } finally {
          target = null;
        }
      };
    }
    return instantiate.call(WA, bytes, imports);
  };
}
