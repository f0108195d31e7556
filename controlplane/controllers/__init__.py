"""kubelite.controlplane.controllers: one module per controller, run by ``manager.ControllerManager``."""
