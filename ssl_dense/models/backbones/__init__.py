from .efficientnet_lite import (IMAGENET_LITE_NORM, EfficientNetLite,
                                EfficientNetLiteClassifier)

__all__ = ['EfficientNetLite', 'EfficientNetLiteClassifier', 'IMAGENET_LITE_NORM']
