from raw_torch.common.startup import quiet_start

quiet_start()  # `python -m raw_torch.<command>`: Ctrl-C while torch imports is one line (common/startup.py)
