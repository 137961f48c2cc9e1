#!/usr/bin/env node
// The `tfjs-ddp` executable: loads the TypeScript sources through tsx, so there is no build step.
import { register } from 'tsx/esm/api';

register();
await import('../src/main.ts');
