// Protocol v1 framing (twin/serving/protocol.py): u32 LE header length, msgpack header, zero
// padding to ALIGN, then a body of little-endian arrays referenced by {dtype, offset,
// count}. Arrays become typed-array views straight over the received ArrayBuffer: the
// server aligns each one, so no copy is ever made; a misaligned one is a server bug and
// throws rather than being silently copied.
import { decode, encode } from '@msgpack/msgpack';
import { ALIGN, CLIENT_MESSAGES, SERVER_MESSAGES, SERVER_TAGS, TAG_FIELD } from './protocol.generated.js';

const TYPED_ARRAYS = {
  f4: Float32Array, f8: Float64Array,
  i1: Int8Array, u1: Uint8Array, b1: Uint8Array,
  i2: Int16Array, u2: Uint16Array,
  i4: Int32Array, u4: Uint32Array,
  i8: BigInt64Array, u8: BigUint64Array,
};

/** Counters the debug hook and tests read: frames decoded, views made, bytes. */
export const wireStats = { frames: 0, views: 0, misaligned: 0, bytes: 0 };

/** Decode one server frame: {name, header, buffer, bodyStart}. */
export function decodeFrame(buffer) {
  const headerLength = new DataView(buffer).getUint32(0, true);
  const header = decode(new Uint8Array(buffer, 4, headerLength));
  const lead = 4 + headerLength;
  const bodyStart = lead + ((ALIGN - (lead % ALIGN)) % ALIGN);
  const name = SERVER_TAGS[header[TAG_FIELD]];
  if (!name) throw new Error(`unknown message type ${JSON.stringify(header[TAG_FIELD])}`);
  for (const field of SERVER_MESSAGES[name].required) {
    if (!(field in header)) throw new Error(`${name} message lacks its field ${field}`);
  }
  wireStats.frames += 1;
  wireStats.bytes += buffer.byteLength;
  return { name, header, buffer, bodyStart };
}

/** The typed array an ArrayRef points at, as a view into the frame (no copy). */
export function arrayView(frame, ref) {
  if (ref.dtype[0] === '>') throw new Error(`big-endian array ${ref.dtype} in a little-endian protocol`);
  const Ctor = TYPED_ARRAYS[ref.dtype.slice(1)];
  if (!Ctor) throw new Error(`unsupported dtype ${ref.dtype}`);
  const at = frame.bodyStart + ref.offset;
  if (at % Ctor.BYTES_PER_ELEMENT !== 0) {
    wireStats.misaligned += 1;
    throw new Error(`array ${ref.dtype} at byte ${at} is not aligned to ${Ctor.BYTES_PER_ELEMENT}`);
  }
  wireStats.views += 1;
  return new Ctor(frame.buffer, at, ref.count);
}

/** One client message (header only), named as in CLIENT_MESSAGES. */
export function encodeClient(name, fields = {}) {
  const spec = CLIENT_MESSAGES[name];
  if (!spec) throw new Error(`unknown client message ${name}`);
  for (const key of Object.keys(fields)) {
    if (!spec.fields.includes(key)) throw new Error(`${name} has no field ${key}; valid: ${spec.fields.join(', ')}`);
  }
  const header = encode({ [TAG_FIELD]: spec.tag, ...fields });
  const out = new Uint8Array(4 + header.byteLength);
  new DataView(out.buffer).setUint32(0, header.byteLength, true);
  out.set(header, 4);
  return out;
}
