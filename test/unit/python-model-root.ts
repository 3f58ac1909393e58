// src/python/model-code.ts rootOf: the package is made for the model's own root (an Autowrx main_api), `Vehicle`
// when the model has it; leaves under other roots are skipped.
import t from 'tap';
import { generatePythonModel, rootOf } from '../../src/python/model-code';
import { VssModel } from '../../src/signals/vss';

const leaf = { type: 'sensor', datatype: 'float', description: 'x' };

t.test('the model\'s root names the class and the instance', async (t) => {
  const farm = VssModel.parse({ FarmMachinery: { type: 'branch', description: 'f', children: { Speed: leaf, Engine: { type: 'branch', description: 'e', children: { Rpm: leaf } } } } });
  t.equal(rootOf(farm), 'FarmMachinery');
  const py = generatePythonModel(farm)!;
  const init = py.files.get('vehicle/__init__.py')!;
  t.match(init, /^class FarmMachinery\(/m);
  t.match(init, /\nvehicle = FarmMachinery\("FarmMachinery"\)\n?$/);
  t.ok(py.files.has('vehicle/Engine/__init__.py'));
  t.equal(py.signals, 2);
});

t.test('Vehicle wins when the model has it; other roots are skipped and listed', async (t) => {
  const both = VssModel.parse({ Tractor: { type: 'branch', description: 't', children: { A: leaf } }, Vehicle: { type: 'branch', description: 'v', children: { Speed: leaf } } });
  t.equal(rootOf(both), 'Vehicle');
  const py = generatePythonModel(both)!;
  t.match(py.files.get('vehicle/__init__.py')!, /vehicle = Vehicle\("Vehicle"\)/);
  t.same(py.skipped, ['Tractor']);
});
