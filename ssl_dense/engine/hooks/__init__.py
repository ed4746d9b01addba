from .teacher_ema_hook import TeacherEMAHook, momentum_at

__all__ = ['TeacherEMAHook', 'momentum_at']
