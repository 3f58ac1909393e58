// The MQTT codec, mqtt-packet, as the broker uses it: loaded with the first client that connects, not at start (it
// brings readable-stream, bl and debug; issue 30). Its writer keeps a cache of a 2-byte Buffer for every 16-bit
// number (packet ids, lengths), built on the first packet it generates: 65 536 Buffers, about 6 MB of heap, for a
// copy of two bytes. `generate` concatenates what it writes anyway, so the cache is turned off before the first
// packet and the two bytes are written as they come.
import type * as MqttPacket from 'mqtt-packet';

export type { Packet, IConnectPacket, IPublishPacket } from 'mqtt-packet';

let loaded: typeof MqttPacket | null = null;

function codec(): typeof MqttPacket {
  if (loaded) return loaded;
  const m = require('mqtt-packet') as typeof MqttPacket;
  m.writeToStream.cacheNumbers = false;
  return (loaded = m);
}

export function generate(packet: MqttPacket.Packet): Buffer {
  return codec().generate(packet);
}

export function parser(opts: { protocolVersion: number }): MqttPacket.Parser {
  return codec().parser(opts);
}
