#!/usr/bin/env node
// Generates resources/default-vss.json, the built-in vehicle model: a curated subset of VSS 4.0 covering the
// signals playground demos use. Run by hand: node scripts/gen-default-vss.mjs [vss.json] (default: the VSS 4.0 release
// kept in resources/vss/).
// The agent never reads the release file at run time; the generated subset is committed.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const src = process.argv[2] ?? path.join(root, 'resources', 'vss', 'vss_release_4.0.json');
const full = JSON.parse(fs.readFileSync(src, 'utf8'));

/** Exact leaf paths, or a branch prefix ending in "." to take every leaf under it. */
const WANTED = [
  'Vehicle.Speed', 'Vehicle.TraveledDistance', 'Vehicle.IsMoving', 'Vehicle.AverageSpeed',
  'Vehicle.VehicleIdentification.VIN', 'Vehicle.VehicleIdentification.Brand', 'Vehicle.VehicleIdentification.Model',
  'Vehicle.CurrentLocation.Latitude', 'Vehicle.CurrentLocation.Longitude', 'Vehicle.CurrentLocation.Heading',
  'Vehicle.Acceleration.Longitudinal', 'Vehicle.Acceleration.Lateral',
  'Vehicle.Body.Lights.',
  'Vehicle.Body.Hood.IsOpen', 'Vehicle.Body.Trunk.Rear.IsOpen', 'Vehicle.Body.Trunk.Rear.IsLocked',
  'Vehicle.Body.Horn.IsActive',
  'Vehicle.Body.Windshield.Front.Wiping.Mode', 'Vehicle.Body.Windshield.Front.Wiping.Intensity',
  'Vehicle.Body.Windshield.Front.Wiping.System.TargetPosition', 'Vehicle.Body.Windshield.Front.Wiping.System.ActualPosition',
  'Vehicle.Body.Windshield.Front.IsHeatingOn', 'Vehicle.Body.Windshield.Rear.IsHeatingOn',
  'Vehicle.Body.Mirrors.DriverSide.Pan', 'Vehicle.Body.Mirrors.DriverSide.Tilt',
  'Vehicle.Cabin.Door.Row1.DriverSide.IsOpen', 'Vehicle.Cabin.Door.Row1.DriverSide.IsLocked',
  'Vehicle.Cabin.Door.Row1.PassengerSide.IsOpen', 'Vehicle.Cabin.Door.Row1.PassengerSide.IsLocked',
  'Vehicle.Cabin.Door.Row2.DriverSide.IsOpen', 'Vehicle.Cabin.Door.Row2.DriverSide.IsLocked',
  'Vehicle.Cabin.Door.Row2.PassengerSide.IsOpen', 'Vehicle.Cabin.Door.Row2.PassengerSide.IsLocked',
  'Vehicle.Cabin.Door.Row1.DriverSide.Window.Position', 'Vehicle.Cabin.Door.Row1.PassengerSide.Window.Position',
  'Vehicle.Cabin.Door.Row2.DriverSide.Window.Position', 'Vehicle.Cabin.Door.Row2.PassengerSide.Window.Position',
  'Vehicle.Cabin.Door.Row1.DriverSide.Window.IsOpen',
  'Vehicle.Cabin.Seat.Row1.DriverSide.Position', 'Vehicle.Cabin.Seat.Row1.DriverSide.Height',
  'Vehicle.Cabin.Seat.Row1.DriverSide.Backrest.Recline', 'Vehicle.Cabin.Seat.Row1.DriverSide.Heating',
  'Vehicle.Cabin.Seat.Row1.DriverSide.IsOccupied', 'Vehicle.Cabin.Seat.Row1.DriverSide.IsBelted',
  'Vehicle.Cabin.Seat.Row1.PassengerSide.Position', 'Vehicle.Cabin.Seat.Row1.PassengerSide.Heating',
  'Vehicle.Cabin.Seat.Row1.PassengerSide.IsOccupied', 'Vehicle.Cabin.Seat.Row1.PassengerSide.IsBelted',
  'Vehicle.Cabin.HVAC.AmbientAirTemperature', 'Vehicle.Cabin.HVAC.IsAirConditioningActive',
  'Vehicle.Cabin.HVAC.IsFrontDefrosterActive', 'Vehicle.Cabin.HVAC.IsRearDefrosterActive', 'Vehicle.Cabin.HVAC.IsRecirculationActive',
  'Vehicle.Cabin.HVAC.Station.Row1.Driver.Temperature', 'Vehicle.Cabin.HVAC.Station.Row1.Driver.FanSpeed',
  'Vehicle.Cabin.HVAC.Station.Row1.Driver.AirDistribution',
  'Vehicle.Cabin.HVAC.Station.Row1.Passenger.Temperature', 'Vehicle.Cabin.HVAC.Station.Row1.Passenger.FanSpeed',
  'Vehicle.Cabin.Light.IsDomeOn', 'Vehicle.Cabin.Light.AmbientLight.Row1.DriverSide.IsLightOn',
  'Vehicle.Cabin.Infotainment.Media.Volume', 'Vehicle.Cabin.Sunroof.Position', 'Vehicle.Cabin.Sunroof.Switch',
  'Vehicle.ADAS.CruiseControl.IsEnabled', 'Vehicle.ADAS.CruiseControl.IsActive', 'Vehicle.ADAS.CruiseControl.SpeedSet',
  'Vehicle.ADAS.ABS.IsEngaged', 'Vehicle.ADAS.LaneDepartureDetection.IsEnabled', 'Vehicle.ADAS.LaneDepartureDetection.IsWarning',
  'Vehicle.Powertrain.TractionBattery.StateOfCharge.Current', 'Vehicle.Powertrain.TractionBattery.StateOfCharge.Displayed',
  'Vehicle.Powertrain.TractionBattery.Charging.IsCharging', 'Vehicle.Powertrain.TractionBattery.Charging.ChargeLimit',
  'Vehicle.Powertrain.TractionBattery.CurrentVoltage', 'Vehicle.Powertrain.TractionBattery.CurrentCurrent',
  'Vehicle.Powertrain.TractionBattery.Temperature.Average', 'Vehicle.Powertrain.Range',
  'Vehicle.Powertrain.FuelSystem.RelativeLevel', 'Vehicle.Powertrain.FuelSystem.Range',
  'Vehicle.Powertrain.CombustionEngine.Speed', 'Vehicle.Powertrain.CombustionEngine.ECT',
  'Vehicle.Powertrain.ElectricMotor.Speed', 'Vehicle.Powertrain.Transmission.CurrentGear',
  'Vehicle.Powertrain.Transmission.SelectedGear',
  'Vehicle.Chassis.SteeringWheel.Angle', 'Vehicle.Chassis.Accelerator.PedalPosition', 'Vehicle.Chassis.Brake.PedalPosition',
  'Vehicle.Chassis.ParkingBrake.IsEngaged',
  'Vehicle.Chassis.Axle.Row1.Wheel.Left.Tire.Pressure', 'Vehicle.Chassis.Axle.Row1.Wheel.Right.Tire.Pressure',
  'Vehicle.Chassis.Axle.Row2.Wheel.Left.Tire.Pressure', 'Vehicle.Chassis.Axle.Row2.Wheel.Right.Tire.Pressure',
  'Vehicle.Exterior.AirTemperature', 'Vehicle.LowVoltageBattery.CurrentVoltage', 'Vehicle.OBD.EngineLoad',
];

const out = {};
let count = 0;
const KEEP = ['type', 'datatype', 'unit', 'min', 'max', 'allowed', 'default', 'description'];
function wanted(p) { return WANTED.some((w) => (w.endsWith('.') ? p.startsWith(w) : p === w)); }
function walk(node, p, dst, name) {
  if (node.type === 'branch') {
    const kids = {};
    for (const [k, child] of Object.entries(node.children ?? {})) walk(child, `${p}.${k}`, kids, k);
    if (Object.keys(kids).length) dst[name] = { type: 'branch', description: node.description, children: kids };
    return;
  }
  if (!wanted(p)) return;
  const leaf = {};
  for (const k of KEEP) if (node[k] !== undefined) leaf[k] = node[k];
  dst[name] = leaf;
  count++;
}
walk(full.Vehicle, 'Vehicle', out, 'Vehicle');
const missing = WANTED.filter((w) => !w.endsWith('.')).filter((w) => {
  let n = out; for (const part of w.split('.')) { n = n?.[part] ?? n?.children?.[part]; } return !n;
});
if (missing.length) { console.error('not in the release:', missing.join(', ')); process.exit(1); }
fs.writeFileSync(path.join(root, 'resources', 'default-vss.json'), JSON.stringify(out, null, 1) + '\n');
console.error(`wrote resources/default-vss.json with ${count} leaves`);
