"""Message tables of apps/v1 and batch/v1 workloads (notation: see schema.py)."""

MESSAGES: dict[str, str] = {
    "Deployment": "1=metadata:ObjectMeta 2=spec:DeploymentSpec",
    "DeploymentSpec": (
        "1=replicas:int? 2=selector:LabelSelector 3=template:PodTemplateSpec"
        " 4=strategy:DeploymentStrategy 5=minReadySeconds:int 6=revisionHistoryLimit:int?"
        " 7=paused:bool 9=progressDeadlineSeconds:int?"
    ),
    "DeploymentStrategy": "1=type 2=rollingUpdate:RollingUpdateDeployment",
    "RollingUpdateDeployment": "1=maxUnavailable:IntOrString? 2=maxSurge:IntOrString?",
    "Job": "1=metadata:ObjectMeta 2=spec:JobSpec",
    "JobSpec": (
        "1=parallelism:int? 2=completions:int? 3=activeDeadlineSeconds:int?"
        " 11=podFailurePolicy:PodFailurePolicy 16=successPolicy:SuccessPolicy"
        " 7=backoffLimit:int? 12=backoffLimitPerIndex:int? 13=maxFailedIndexes:int?"
        " 4=selector:LabelSelector 5=manualSelector:bool? 6=template:PodTemplateSpec"
        " 8=ttlSecondsAfterFinished:int? 9=completionMode? 10=suspend:bool?"
        " 14=podReplacementPolicy? 15=managedBy?"
    ),
    "CronJob": "1=metadata:ObjectMeta 2=spec:CronJobSpec",
    "CronJobSpec": (
        "1=schedule? 8=timeZone? 2=startingDeadlineSeconds:int? 3=concurrencyPolicy"
        " 4=suspend:bool? 5=jobTemplate:JobTemplateSpec 6=successfulJobsHistoryLimit:int?"
        " 7=failedJobsHistoryLimit:int?"
    ),
    "JobTemplateSpec": "1=metadata:ObjectMeta 2=spec:JobSpec",
    "PodFailurePolicy": "1=rules:[]PodFailurePolicyRule",
    "PodFailurePolicyRule": (
        "1=action? 2=onExitCodes:PodFailurePolicyOnExitCodesRequirement"
        " 3=onPodConditions:[]PodFailurePolicyOnPodConditionsPattern"
    ),
    "PodFailurePolicyOnExitCodesRequirement": "1=containerName? 2=operator? 3=values:[]int",
    "PodFailurePolicyOnPodConditionsPattern": "1=type? 2=status?",
    "SuccessPolicy": "1=rules:[]SuccessPolicyRule",
    "SuccessPolicyRule": "1=succeededIndexes? 2=succeededCount:int?",
}
