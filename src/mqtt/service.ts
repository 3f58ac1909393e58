// The MQTT part (Parts.mqtt): what mqtt.mode asks for. embedded runs the agent's broker on mqtt.address; external only
// passes mqtt.address to apps and checks now and then that something listens there; off does neither. A broker that
// cannot listen (the port is taken) leaves the agent running, with a notice and MQTT reported down.
import net = require('node:net');
import { splitHostPort, type Config } from '../config';
import type { Logger } from '../log';
import { AgentPeers } from './agent-peers';
import { MqttBroker, type MqttStats } from './broker';
import { limitsFrom } from './limits';

/** How often an external broker's address is dialled to report whether it is up. */
const EXTERNAL_CHECK_MS = 15_000;

export interface MqttStatus {
  readonly mode: string;
  /** host:port apps are given (null with mode off). */
  readonly address: string | null;
  /** embedded: listening; external: the last dial connected (null before the first); off: false. */
  readonly up: boolean | null;
  readonly error: string | null;
  readonly broker?: Omit<MqttStats, 'up' | 'port'>;
}

export class MqttService {
  private broker: MqttBroker | null = null;
  private error: string | null = null;
  private externalUp: boolean | null = null;
  private timer: NodeJS.Timeout | null = null;
  private readonly log: Logger;

  constructor(private readonly config: Config, log: Logger, private readonly notices: string[]) {
    this.log = log.child({ part: 'mqtt' });
  }

  /** The port the embedded broker listens on (0 when it does not). */
  get port(): number { return this.broker?.port ?? 0; }

  async start(): Promise<void> {
    const { mode, address } = this.config.mqtt;
    const [host, port] = splitHostPort(address);
    if (mode === 'embedded') {
      const broker = new MqttBroker(limitsFrom(this.config), this.log, new AgentPeers());
      try {
        const bound = await broker.start(host, port);
        this.broker = broker;
        this.log.info({ host, port: bound }, 'mqtt broker listening');
      } catch (e) {
        this.error = `embedded MQTT broker not started: ${(e as Error).message}`;
        this.log.error(this.error);
        this.notices.push(this.error);
      }
    } else if (mode === 'external') {
      const check = () => dial(host, port).then((ok) => {
        if (ok !== this.externalUp) this.log[ok ? 'info' : 'warn']({ address }, ok ? 'external MQTT broker reachable' : 'external MQTT broker not reachable');
        this.externalUp = ok;
      });
      void check();
      this.timer = setInterval(() => void check(), EXTERNAL_CHECK_MS);
      this.timer.unref();
    }
  }

  status(): MqttStatus {
    const { mode, address } = this.config.mqtt;
    if (mode === 'off') return { mode, address: null, up: false, error: null };
    if (mode === 'external') return { mode, address, up: this.externalUp, error: null };
    if (!this.broker) return { mode, address, up: false, error: this.error };
    const { up, port, ...broker } = this.broker.stats();
    return { mode, address: `${address.slice(0, address.lastIndexOf(':'))}:${port}`, up, error: null, broker };
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.broker?.stop();
  }
}

/** true when a TCP connection to host:port opens within 2 s. */
function dial(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    const done = (ok: boolean) => { s.destroy(); resolve(ok); };
    s.setTimeout(2000, () => done(false));
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}
