// @tfjs-ddp/core/zmq: the ZeroMQ transport, kept off the main entry so that importing @tfjs-ddp/core
// never loads the native zeromq addon.
export { MAX_DATA_FRAME_BYTES, WIRE_MARGIN_BYTES, ZmqTransport, type ZmqTransportOptions } from './zmq-transport';
export { nativeDataPlane } from './native-data-plane';
