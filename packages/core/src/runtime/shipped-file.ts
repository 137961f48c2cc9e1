// Paths of files that ship beside the code and are found from a source file's own URL: the CLI
// entry the local launcher spawns for workers, the memory-probe child, the native addon. In the
// repository they sit relative to the TypeScript source (run through tsx); in the published package
// every module is a chunk in dist/, so they sit relative to that (docs/package.md).
// tools/package/build.mjs defines __TFJS_DDP_BUNDLE__ as true there; nothing defines it here.
import { fileURLToPath } from 'node:url';

declare const __TFJS_DDP_BUNDLE__: boolean | undefined;

/** True when this code runs from the built package (dist/), false when it runs from the sources. */
export const BUNDLED: boolean = typeof __TFJS_DDP_BUNDLE__ !== 'undefined' && __TFJS_DDP_BUNDLE__ === true;

/** Where a shipped file is, relative to the calling module: in the sources, and in the bundle's dist/. */
export interface ShippedFile {
  source: string;
  bundle: string;
}

/** The absolute path of a shipped file, for the module whose `import.meta.url` is `metaUrl`. */
export function shippedFile(metaUrl: string, where: ShippedFile, bundled: boolean = BUNDLED): string {
  return fileURLToPath(new URL(bundled ? where.bundle : where.source, metaUrl));
}
