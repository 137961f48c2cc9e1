// @tfjs-ddp/core/zmq: the ZeroMQ transport, kept off the main entry so that importing @tfjs-ddp/core
// never loads the native zeromq addon.
export { ZmqTransport, type ZmqTransportOptions } from './zmq-transport';
export { nativeDataPlane } from './native-data-plane';
