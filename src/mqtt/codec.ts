// The MQTT codec, mqtt-packet, as the broker uses it. Its writer keeps a cache of a 2-byte Buffer for every 16-bit
// number (packet ids, lengths), built on the first packet it generates: 65 536 Buffers, about 6 MB of heap, for a
// copy of two bytes. `generate` concatenates what it writes anyway, so the broker turns the cache off before the
// first packet and the two bytes are written as they come.
import * as mqtt from 'mqtt-packet';

mqtt.writeToStream.cacheNumbers = false;

export { mqtt };
