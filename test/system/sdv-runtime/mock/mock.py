# Stand-in for the image's mock/mock.py (which defines mock datapoints from MOCK_SIGNAL and exits): reads the list.
import json, os
signals = json.load(open(os.getenv("MOCK_SIGNAL", "/home/dev/ws/mock/signals.json")))
print("mock: %d datapoints from %s" % (len(signals), os.getenv("MOCK_SIGNAL")), flush=True)
