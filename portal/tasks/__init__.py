"""The grid worker's phone (我的任务): the task list, one file with its visit form, the call."""
