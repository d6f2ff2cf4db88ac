"""Message tables of autoscaling/v1 and autoscaling/v2 HorizontalPodAutoscalers (notation: see
schema.py).

Both versions name their messages alike upstream (each in its own proto package); here the
top-level, spec and status messages that differ carry a ``V1`` / ``V2`` suffix, and the ones that
are the same in both (``CrossVersionObjectReference``) are shared. Status is listed too: the
horizontal-pod-autoscaler controller writes it in protobuf, as every client-go controller does.
"""

MESSAGES: dict[str, str] = {
    # -- autoscaling/v1 ---------------------------------------------------------------------------
    "HorizontalPodAutoscalerV1": (
        "1=metadata:ObjectMeta 2=spec:HorizontalPodAutoscalerSpecV1"
        " 3=status:HorizontalPodAutoscalerStatusV1"
    ),
    "HorizontalPodAutoscalerSpecV1": (
        "1=scaleTargetRef:CrossVersionObjectReference 2=minReplicas:int?"
        " 3=maxReplicas:int? 4=targetCPUUtilizationPercentage:int?"
    ),
    "HorizontalPodAutoscalerStatusV1": (
        "1=observedGeneration:int? 2=lastScaleTime:Time 3=currentReplicas:int?"
        " 4=desiredReplicas:int? 5=currentCPUUtilizationPercentage:int?"
    ),
    "CrossVersionObjectReference": "1=kind? 2=name? 3=apiVersion",
    # -- autoscaling/v2 ---------------------------------------------------------------------------
    "HorizontalPodAutoscalerV2": (
        "1=metadata:ObjectMeta 2=spec:HorizontalPodAutoscalerSpecV2"
        " 3=status:HorizontalPodAutoscalerStatusV2"
    ),
    "HorizontalPodAutoscalerSpecV2": (
        "1=scaleTargetRef:CrossVersionObjectReference 2=minReplicas:int? 3=maxReplicas:int?"
        " 4=metrics:[]MetricSpec 5=behavior:HorizontalPodAutoscalerBehavior"
    ),
    "MetricSpec": (
        "1=type? 2=object:ObjectMetricSource 3=pods:PodsMetricSource"
        " 4=resource:ResourceMetricSource 7=containerResource:ContainerResourceMetricSource"
        " 5=external:ExternalMetricSource"
    ),
    "ObjectMetricSource": (
        "1=describedObject:CrossVersionObjectReference 2=target:MetricTarget"
        " 3=metric:MetricIdentifier"
    ),
    "PodsMetricSource": "1=metric:MetricIdentifier 2=target:MetricTarget",
    "ResourceMetricSource": "1=name? 2=target:MetricTarget",
    "ContainerResourceMetricSource": "1=name? 2=target:MetricTarget 3=container?",
    "ExternalMetricSource": "1=metric:MetricIdentifier 2=target:MetricTarget",
    "MetricIdentifier": "1=name? 2=selector:LabelSelector",
    "MetricTarget": ("1=type? 2=value:Quantity 3=averageValue:Quantity 4=averageUtilization:int?"),
    "HorizontalPodAutoscalerBehavior": "1=scaleUp:HPAScalingRules 2=scaleDown:HPAScalingRules",
    "HPAScalingRules": (
        "3=stabilizationWindowSeconds:int? 1=selectPolicy? 2=policies:[]HPAScalingPolicy"
        " 4=tolerance:Quantity"
    ),
    "HPAScalingPolicy": "1=type? 2=value:int? 3=periodSeconds:int?",
    "HorizontalPodAutoscalerStatusV2": (
        "1=observedGeneration:int? 2=lastScaleTime:Time 3=currentReplicas:int"
        " 4=desiredReplicas:int? 5=currentMetrics:[]MetricStatus"
        " 6=conditions:[]HorizontalPodAutoscalerCondition"
    ),
    "HorizontalPodAutoscalerCondition": (
        "1=type? 2=status? 3=lastTransitionTime:Time 4=reason 5=message"
    ),
    "MetricStatus": (
        "1=type? 2=object:ObjectMetricStatus 3=pods:PodsMetricStatus"
        " 4=resource:ResourceMetricStatus 7=containerResource:ContainerResourceMetricStatus"
        " 5=external:ExternalMetricStatus"
    ),
    "ObjectMetricStatus": (
        "1=metric:MetricIdentifier 2=current:MetricValueStatus"
        " 3=describedObject:CrossVersionObjectReference"
    ),
    "PodsMetricStatus": "1=metric:MetricIdentifier 2=current:MetricValueStatus",
    "ResourceMetricStatus": "1=name? 2=current:MetricValueStatus",
    "ContainerResourceMetricStatus": "1=name? 2=current:MetricValueStatus 3=container?",
    "ExternalMetricStatus": "1=metric:MetricIdentifier 2=current:MetricValueStatus",
    "MetricValueStatus": "1=value:Quantity 2=averageValue:Quantity 3=averageUtilization:int?",
}
