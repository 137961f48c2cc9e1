// Public surface of @tfjs-ddp/worker.
export {};
