// Public surface of @tfjs-ddp/data.
export {};
