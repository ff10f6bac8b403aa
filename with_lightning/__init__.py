from raw_torch.common.startup import quiet_start

quiet_start()  # `python -m with_lightning.<command>`: Ctrl-C while Lightning imports is one line (common/startup.py)
