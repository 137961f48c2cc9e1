// Public surface of @tfjs-ddp/core: pure building blocks shared by every package (no tfjs here).
export * from './errors';
export * from './config/train-config';
export * from './group/worker-group';
