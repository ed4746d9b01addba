from .transforms import MultiView

__all__ = ['MultiView']
