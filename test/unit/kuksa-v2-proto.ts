// proto/kuksa/val/v2 against the wire format of KUKSA databroker 0.7.0 (eclipse-kuksa/kuksa-databroker, tag 0.7.0,
// proto/kuksa/val/v2/{types,val}.proto, read by hand): every message's field names, numbers, kinds and labels, every
// enum value, every rpc and its streaming. A renumbered field or a sint32 written int32 decodes as garbage against a
// real databroker and no test against the agent's own server would notice; this one fails.
import * as path from 'node:path';
import t from 'tap';
import * as protobuf from 'protobufjs';

const ROOT = path.resolve(__dirname, '..', '..', 'proto');

/** field → [number, type, 'repeated' | 'map<key>' | ''] as 0.7.0 has it. */
type Fields = Record<string, [number, string, string?]>;
const VALUE_ONEOF: Fields = {
  string: [11, 'string'], bool: [12, 'bool'], int32: [13, 'sint32'], int64: [14, 'sint64'], uint32: [15, 'uint32'], uint64: [16, 'uint64'],
  float: [17, 'float'], double: [18, 'double'], string_array: [21, 'StringArray'], bool_array: [22, 'BoolArray'], int32_array: [23, 'Int32Array'],
  int64_array: [24, 'Int64Array'], uint32_array: [25, 'Uint32Array'], uint64_array: [26, 'Uint64Array'], float_array: [27, 'FloatArray'], double_array: [28, 'DoubleArray'],
};
const MESSAGES: Record<string, Fields> = {
  Datapoint: { timestamp: [1, 'google.protobuf.Timestamp'], value: [2, 'Value'] },
  Value: VALUE_ONEOF,
  SampleInterval: { interval_ms: [1, 'uint32'] },
  Filter: { duration_ms: [1, 'uint32'], min_sample_interval: [2, 'SampleInterval'] },
  SignalID: { id: [1, 'int32'], path: [2, 'string'] },
  Error: { code: [1, 'ErrorCode'], message: [2, 'string'] },
  Metadata: {
    path: [9, 'string'], id: [10, 'int32'], data_type: [11, 'DataType'], entry_type: [12, 'EntryType'], description: [13, 'string'], comment: [14, 'string'],
    deprecation: [15, 'string'], unit: [16, 'string'], allowed_values: [17, 'Value'], min: [18, 'Value'], max: [19, 'Value'], min_sample_interval: [20, 'SampleInterval'],
  },
  StringArray: { values: [1, 'string', 'repeated'] }, BoolArray: { values: [1, 'bool', 'repeated'] }, Int32Array: { values: [1, 'sint32', 'repeated'] },
  Int64Array: { values: [1, 'sint64', 'repeated'] }, Uint32Array: { values: [1, 'uint32', 'repeated'] }, Uint64Array: { values: [1, 'uint64', 'repeated'] },
  FloatArray: { values: [1, 'float', 'repeated'] }, DoubleArray: { values: [1, 'double', 'repeated'] },
  GetValueRequest: { signal_id: [1, 'SignalID'] }, GetValueResponse: { data_point: [1, 'Datapoint'] },
  GetValuesRequest: { signal_ids: [1, 'SignalID', 'repeated'] }, GetValuesResponse: { data_points: [1, 'Datapoint', 'repeated'] },
  SubscribeRequest: { signal_paths: [1, 'string', 'repeated'], buffer_size: [2, 'uint32'], filter: [3, 'Filter'] },
  SubscribeResponse: { entries: [1, 'Datapoint', 'map<string>'] },
  SubscribeByIdRequest: { signal_ids: [1, 'int32', 'repeated'], buffer_size: [2, 'uint32'], filter: [3, 'Filter'] },
  SubscribeByIdResponse: { entries: [1, 'Datapoint', 'map<int32>'] },
  ActuateRequest: { signal_id: [1, 'SignalID'], value: [2, 'Value'] }, ActuateResponse: {},
  BatchActuateRequest: { actuate_requests: [1, 'ActuateRequest', 'repeated'] }, BatchActuateResponse: {},
  ListMetadataRequest: { root: [1, 'string'], filter: [2, 'string'] }, ListMetadataResponse: { metadata: [1, 'Metadata', 'repeated'] },
  PublishValueRequest: { signal_id: [1, 'SignalID'], data_point: [2, 'Datapoint'] }, PublishValueResponse: {},
  PublishValuesRequest: { request_id: [1, 'uint32'], data_points: [2, 'Datapoint', 'map<int32>'] },
  PublishValuesResponse: { request_id: [1, 'uint32'], status: [2, 'Error', 'map<int32>'] },
  ProvideActuationRequest: { actuator_identifiers: [1, 'SignalID', 'repeated'] }, ProvideActuationResponse: {},
  ProvideSignalRequest: { signals_sample_intervals: [1, 'SampleInterval', 'map<int32>'] }, ProvideSignalResponse: {},
  BatchActuateStreamRequest: { actuate_requests: [1, 'ActuateRequest', 'repeated'] },
  BatchActuateStreamResponse: { signal_id: [1, 'SignalID'], error: [2, 'Error'] },
  UpdateFilterRequest: { request_id: [1, 'uint32'], filters_update: [2, 'Filter', 'map<int32>'] },
  UpdateFilterResponse: { request_id: [1, 'uint32'], filter_error: [2, 'FilterError'] },
  ProviderErrorIndication: { provider_error: [1, 'ProviderError'] },
  GetProviderValueRequest: { request_id: [1, 'uint32'], signal_ids: [2, 'int32', 'repeated'] },
  GetProviderValueResponse: { request_id: [1, 'uint32'], entries: [2, 'Datapoint', 'map<int32>'] },
  OpenProviderStreamRequest: {
    provide_actuation_request: [1, 'ProvideActuationRequest'], publish_values_request: [2, 'PublishValuesRequest'],
    batch_actuate_stream_response: [3, 'BatchActuateStreamResponse'], provide_signal_request: [4, 'ProvideSignalRequest'],
    update_filter_response: [5, 'UpdateFilterResponse'], get_provider_value_response: [6, 'GetProviderValueResponse'],
    provider_error_indication: [7, 'ProviderErrorIndication'],
  },
  OpenProviderStreamResponse: {
    provide_actuation_response: [1, 'ProvideActuationResponse'], publish_values_response: [2, 'PublishValuesResponse'],
    batch_actuate_stream_request: [3, 'BatchActuateStreamRequest'], provide_signal_response: [4, 'ProvideSignalResponse'],
    update_filter_request: [5, 'UpdateFilterRequest'], get_provider_value_request: [6, 'GetProviderValueRequest'],
  },
  GetServerInfoRequest: {}, GetServerInfoResponse: { name: [1, 'string'], version: [2, 'string'], commit_hash: [3, 'string'] },
};
/** Oneofs: message → oneof name → its members. */
const ONEOFS: Record<string, Record<string, string[]>> = {
  Value: { typed_value: Object.keys(VALUE_ONEOF) },
  SignalID: { signal: ['id', 'path'] },
  OpenProviderStreamRequest: { action: Object.keys(MESSAGES.OpenProviderStreamRequest!) },
  OpenProviderStreamResponse: { action: Object.keys(MESSAGES.OpenProviderStreamResponse!) },
};
const DATA_TYPES = ['UNSPECIFIED', 'STRING', 'BOOLEAN', 'INT8', 'INT16', 'INT32', 'INT64', 'UINT8', 'UINT16', 'UINT32', 'UINT64', 'FLOAT', 'DOUBLE', 'TIMESTAMP'];
const ARRAY_TYPES = ['STRING', 'BOOLEAN', 'INT8', 'INT16', 'INT32', 'INT64', 'UINT8', 'UINT16', 'UINT32', 'UINT64', 'FLOAT', 'DOUBLE', 'TIMESTAMP'];
const ENUMS: Record<string, Record<string, number>> = {
  ErrorCode: { ERROR_CODE_UNSPECIFIED: 0, ERROR_CODE_OK: 1, ERROR_CODE_INVALID_ARGUMENT: 2, ERROR_CODE_NOT_FOUND: 3, ERROR_CODE_PERMISSION_DENIED: 4 },
  EntryType: { ENTRY_TYPE_UNSPECIFIED: 0, ENTRY_TYPE_ATTRIBUTE: 1, ENTRY_TYPE_SENSOR: 2, ENTRY_TYPE_ACTUATOR: 3 },
  DataType: {
    ...Object.fromEntries(DATA_TYPES.map((n, i) => [`DATA_TYPE_${n}`, i])),
    ...Object.fromEntries(ARRAY_TYPES.map((n, i) => [`DATA_TYPE_${n}_ARRAY`, 20 + i])),
  },
  FilterError: { FILTER_ERROR_CODE_UNSPECIFIED: 0, FILTER_ERROR_CODE_UNKNOWN_SINGAL_ID: 1 },
  ProviderError: { CODE_UNSPECIFIED: 0, CODE_NETWORK_ERROR: 1, CODE_OVERLOAD: 2 },
};
/** rpc → [request, response, request stream, response stream]. */
const RPCS: Record<string, [string, string, boolean, boolean]> = {
  GetValue: ['GetValueRequest', 'GetValueResponse', false, false], GetValues: ['GetValuesRequest', 'GetValuesResponse', false, false],
  Subscribe: ['SubscribeRequest', 'SubscribeResponse', false, true], SubscribeById: ['SubscribeByIdRequest', 'SubscribeByIdResponse', false, true],
  Actuate: ['ActuateRequest', 'ActuateResponse', false, false], ActuateStream: ['ActuateRequest', 'ActuateResponse', true, false],
  BatchActuate: ['BatchActuateRequest', 'BatchActuateResponse', false, false], ListMetadata: ['ListMetadataRequest', 'ListMetadataResponse', false, false],
  PublishValue: ['PublishValueRequest', 'PublishValueResponse', false, false],
  OpenProviderStream: ['OpenProviderStreamRequest', 'OpenProviderStreamResponse', true, true],
  GetServerInfo: ['GetServerInfoRequest', 'GetServerInfoResponse', false, false],
};

t.test('proto/kuksa/val/v2 has the wire format of databroker 0.7.0', async (t) => {
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => (target.startsWith('google/') ? target : path.join(ROOT, target));
  root.loadSync('kuksa/val/v2/val.proto', { keepCase: true });
  root.resolveAll();
  const pkg = root.lookup('kuksa.val.v2') as protobuf.Namespace;

  const declared = pkg.nestedArray.filter((n) => n instanceof protobuf.Type).map((n) => n.name).sort();
  t.same(declared, Object.keys(MESSAGES).sort(), 'the same messages, no more and no fewer');
  for (const [name, fields] of Object.entries(MESSAGES)) {
    const type = pkg.lookupType(name);
    const got: Fields = {};
    for (const f of type.fieldsArray) {
      const label = f instanceof protobuf.MapField ? `map<${f.keyType}>` : f.repeated ? 'repeated' : '';
      got[f.name] = label ? [f.id, f.type, label] : [f.id, f.type];
    }
    t.same(got, fields, `${name}: field names, numbers, kinds and labels`);
    const oneofs = Object.fromEntries(type.oneofsArray.map((o) => [o.name, o.oneof]));
    t.same(oneofs, ONEOFS[name] ?? {}, `${name}: oneofs`);
  }
  for (const [name, values] of Object.entries(ENUMS)) t.same(pkg.lookupEnum(name).values, values, `enum ${name}`);
  const service = pkg.lookupService('VAL');
  const rpcs = Object.fromEntries(service.methodsArray.map((m) => [m.name, [m.requestType, m.responseType, !!m.requestStream, !!m.responseStream]]));
  t.same(rpcs, RPCS, 'service VAL: every rpc, its messages and which side streams');
});
