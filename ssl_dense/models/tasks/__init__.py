from .detection import DetectionAdapter

__all__ = ['DetectionAdapter']
