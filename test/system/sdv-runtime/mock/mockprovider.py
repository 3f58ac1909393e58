# Stand-in for the image's mock/mockprovider.py: runs until SIGTERM, writing its pid where the original does.
import os, signal, time
open("/home/dev/mockprovider.pid", "w").write(str(os.getpid()))
running = True
def stop(*_):
    global running
    running = False
signal.signal(signal.SIGTERM, stop)
print("mock provider running", flush=True)
while running:
    time.sleep(0.2)
