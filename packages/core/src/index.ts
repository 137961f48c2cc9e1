// Public surface of @tfjs-ddp/core: pure building blocks shared by every package (no tfjs here).
export * from './errors';
export * from './config/train-config';
export * from './group/worker-group';
export * from './fs/atomic-dir';
export * from './group/control-messages';
export * from './protocol/version';
export * from './protocol/typed-frames';
export * from './protocol/frame-codec';
export * from './protocol/control-codec';
export * from './transport/transport';
export { InProcessTransport } from './transport/in-process';
export * from './allreduce/ring-channel';
export * from './allreduce/ring-allreduce';
export * from './allreduce/ring-setup';
export * from './prng';
export * from './memory/bytes';
export * from './memory/batch-search';
export * from './fs/socket-dir';
