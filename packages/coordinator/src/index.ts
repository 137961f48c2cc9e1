// Public surface of @tfjs-ddp/coordinator: planning, the step loop, run directories; never imports tfjs.
export * from './run-dir';
export * from './run-documents';
export * from './train-loop';
export * from './remote-group';
export * from './launch/local-launcher';
export * from './policy/failure-policy';
export * from './policy/gpu-assignment';
export * from './checkpoint/checkpoint-store';
export * from './observe/crc32c';
export * from './observe/tfevents';
export * from './observe/tensorboard-sink';
export * from './report/write-report';
export * from './observe/timeline';
export * from './run-log';
