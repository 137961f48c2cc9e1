// Public surface of @tfjs-ddp/coordinator.
export {};
