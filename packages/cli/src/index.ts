// Public surface of @tfjs-ddp/cli.
export {};
