#!/usr/bin/env node
// A memory-probe child process (spawned by the memory-fit search): loads the TypeScript sources
// through tsx, as the tfjs-ddp executable does, and runs the trial steps it is sent.
import { register } from 'tsx/esm/api';

register();
await import('../src/memory/probe-child.ts');
